// The TICKER on the deterministic test coordinator, with probe actors in
// place of shards: tick on every sweep_interval, checkpoint on every
// sync_interval, health check on every health_interval, nothing in between.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
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

namespace {

/// A shard whose work does not end until the test says so (a sweep or a
/// health check waiting on a hung backend): it counts what it is sent and
/// holds its answer.
struct held_probe {
  probe_log log;
  std::vector<caf::response_promise> held;
  int received() const {
    return log.ticks + log.checkpoints + log.health_ticks;
  }
};

caf::behavior holding_probe(caf::event_based_actor* self,
                            std::shared_ptr<held_probe> probe) {
  auto hold = [=] { probe->held.push_back(self->make_response_promise()); };
  return {
    [=](tick_atom) { ++probe->log.ticks; hold(); },
    [=](checkpoint_atom) { ++probe->log.checkpoints; hold(); },
    [=](report_atom) { ++probe->log.health_ticks; hold(); },
    // The test's word that the work ended: answered from the probe itself.
    [=](const std::string&) { probe->held.back().deliver(caf::unit); },
  };
}

/// A ticker over one holding probe: the probe's work ends when release()
/// says so.
struct held_fixture : deterministic_system {
  std::shared_ptr<held_probe> probe = std::make_shared<held_probe>();
  shard_actor shard;

  explicit held_fixture(ticker_settings settings) {
    shard = stop_at_end(
      caf::actor_cast<shard_actor>(sys->spawn(holding_probe, probe)));
    stop_at_end(spawn_ticker(*sys, {shard}, settings));
    sched->run();
  }

  /// The work in progress ends.
  void release() {
    caf::anon_send(caf::actor_cast<caf::actor>(shard), std::string{"done"});
    sched->run();
  }
};

} // namespace

// Found by review (3b5b427, baaec52): the ticker sent each shard its work on
// every period whether or not it had done the last. Behind a backend that
// hung, ticks and health checks queued in the shard's mailbox, each to wait
// out the same backend, and a stop queued behind them all waited minutes;
// the shard skipped them by time, in three special cases. Now the ticker
// sends a shard nothing while its last message is unanswered, and sends
// what came due meanwhile once, when it answers.
TEST_CASE("ticker: a shard still busy is sent nothing more, then what came "
          "due, once each") {
  held_fixture sys{ticker_settings{200ms, 1000ms, 500ms}};
  auto& probe = sys.probe;
  CHECK(probe->received() == 1); // the first health check, unanswered
  for (int i = 0; i < 50; ++i)
    sys.advance(200ms); // 10 s: 50 ticks, 10 checkpoints, 20 checks due
  CHECK(probe->received() == 1);
  // Answered: what came due goes out one at a time, in the order it came
  // due: the tick (200 ms), the health check (500 ms), the checkpoint (1 s).
  sys.release();
  CHECK(probe->log.ticks == 1);
  CHECK(probe->received() == 2);
  sys.release();
  CHECK(probe->log.health_ticks == 2);
  sys.release();
  CHECK(probe->log.checkpoints == 1);
  sys.release();
  CHECK(probe->received() == 4); // nothing more was due
  sys.advance(200ms);
  CHECK(probe->received() == 5); // the next period's work goes at once
}

// Found by review of the change above: sent by a fixed order, the first
// kind was due again whenever a shard answered after its period, and the
// others never went out (work of 1.2 s against periods of 1 s: 100 ticks
// and 1 health check in 120 s; 100 checkpoints and no tick at all).
TEST_CASE("ticker: a shard whose work outlasts every period still gets each "
          "kind in turn") {
  held_fixture sys{ticker_settings{1000ms, 1000ms, 5000ms}};
  auto& probe = sys.probe;
  for (int i = 0; i < 60; ++i) {
    sys.advance(1200ms); // the work in progress takes 1.2 s
    sys.release();
  }
  // 72 s: each kind at least a third of the answers, the checks every 5 s.
  CHECK(probe->log.ticks >= 20);
  CHECK(probe->log.checkpoints >= 20);
  CHECK(probe->log.health_ticks >= 10);
}
