#pragma once

// The TICKER: the clock of the store's background work. Every sweep_interval
// it tells each shard to drop expired keys and report metrics (tick); every
// health_interval to ask its backend's health and report metrics (report);
// every sync_interval to checkpoint its backend.

#include <chrono>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

struct ticker_settings {
  std::chrono::milliseconds sweep_interval{1000};
  /// Zero disables checkpoints (backends without a log).
  std::chrono::milliseconds sync_interval{0};
  /// How often each shard asks its backend's health for
  /// solver_state_backend_up, the first time at once: on its own timer, so
  /// a long sweep_interval (60 s for a DynamoDB table's scans) does not
  /// leave a dead backend reported up for a minute, past the 1m of
  /// SolverStateNotReady. A round trip (PING, SELECT 1, DescribeTable)
  /// every few seconds tells an idle service's dead backend from a quiet
  /// one.
  std::chrono::milliseconds health_interval{5000};
};

ticker_actor spawn_ticker(caf::actor_system& sys,
                          std::vector<shard_actor> shards,
                          ticker_settings settings);

} // namespace solver_state
