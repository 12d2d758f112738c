// The TICKER on the deterministic test coordinator, with probe actors in
// place of shards: tick on every sweep_interval, checkpoint on every
// sync_interval, nothing in between.

#include <memory>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/ticker.hpp"
#include "tests/support/deterministic_fixture.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using testing::deterministic_system;

namespace {

struct probe_log {
  int ticks = 0;
  int checkpoints = 0;
};

/// Stands in for a shard: counts what the ticker sends it.
caf::behavior shard_probe(caf::event_based_actor*,
                          std::shared_ptr<probe_log> log) {
  return {
    [=](tick_atom) { ++log->ticks; },
    [=](checkpoint_atom) { ++log->checkpoints; },
  };
}

struct ticker_fixture : deterministic_system {
  std::vector<std::shared_ptr<probe_log>> logs;

  /// A ticker over two probe shards.
  explicit ticker_fixture(ticker_settings settings) {
    std::vector<shard_actor> shards;
    for (int i = 0; i < 2; ++i) {
      logs.push_back(std::make_shared<probe_log>());
      shards.push_back(stop_at_end(
        caf::actor_cast<shard_actor>(sys->spawn(shard_probe, logs.back()))));
    }
    stop_at_end(spawn_ticker(*sys, shards, settings));
    sched->run();
  }

  /// Checks that every probe has seen `ticks` ticks and `checkpoints`
  /// checkpoints.
  void check(int ticks, int checkpoints) {
    for (auto& log : logs) {
      CHECK(log->ticks == ticks);
      CHECK(log->checkpoints == checkpoints);
    }
  }
};

} // namespace

TEST_CASE("ticker: tick on sweep_interval, checkpoint on sync_interval") {
  ticker_fixture f{ticker_settings{1000ms, 3000ms}};
  f.check(0, 0);
  f.advance(999ms);
  f.check(0, 0);
  f.advance(1ms);
  f.check(1, 0);
  f.advance(1s);
  f.check(2, 0);
  f.advance(999ms);
  f.check(2, 0);
  f.advance(1ms);
  f.check(3, 1);
  for (int i = 0; i < 3; ++i)
    f.advance(1s);
  f.check(6, 2);
}

TEST_CASE("ticker: a sync_interval of zero sends no checkpoints") {
  ticker_fixture f{ticker_settings{250ms, 0ms}};
  for (int i = 0; i < 40; ++i)
    f.advance(250ms);
  f.check(40, 0);
}
