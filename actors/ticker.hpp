#pragma once

// The TICKER: the clock of the store's background work. Every sweep_interval
// it tells each shard to drop expired keys and report metrics (tick); every
// sync_interval it tells each shard to checkpoint its backend.

#include <chrono>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

struct ticker_settings {
  std::chrono::milliseconds sweep_interval{1000};
  /// Zero disables checkpoints (backends without a log).
  std::chrono::milliseconds sync_interval{0};
};

ticker_actor spawn_ticker(caf::actor_system& sys,
                          std::vector<shard_actor> shards,
                          ticker_settings settings);

} // namespace solver_state
