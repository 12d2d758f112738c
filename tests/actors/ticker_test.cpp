// The TICKER on the deterministic test coordinator, with probe actors in
// place of shards: tick on every sweep_interval, checkpoint on every
// sync_interval, health check on every health_interval, nothing in between.

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
  int health_ticks = 0;
};

/// Stands in for a shard: counts what the ticker sends it.
caf::behavior shard_probe(caf::event_based_actor*,
                          std::shared_ptr<probe_log> log) {
  return {
    [=](tick_atom) { ++log->ticks; },
    [=](checkpoint_atom) { ++log->checkpoints; },
    [=](report_atom) { ++log->health_ticks; },
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

  /// Checks that every probe has been told `n` times to check its
  /// backend's health.
  void check_health_ticks(int n) {
    for (auto& log : logs)
      CHECK(log->health_ticks == n);
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

// Found by review: the health check ran on the sweep's tick, so under a
// sweep_interval of 60 s a dead backend stayed solver_state_backend_up 1
// for a minute, although the docs (and SolverStateNotReady) say 5 s.
TEST_CASE("ticker: a health check at once and every 5 s, however long "
          "sweep_interval is") {
  ticker_fixture f{ticker_settings{60'000ms, 0ms}};
  f.check_health_ticks(1);
  f.advance(4999ms);
  f.check_health_ticks(1);
  f.advance(1ms);
  f.check_health_ticks(2);
  for (int i = 0; i < 10; ++i)
    f.advance(5s);
  f.check_health_ticks(12);
  f.check(0, 0); // 55 s: no sweep yet
  f.advance(5s);
  f.check(1, 0);
  f.check_health_ticks(13);
}
