#pragma once

// The SHARD actor: owns the keys of one shard and the one backend store that
// holds them. Nothing else touches the store, so it needs no lock.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

class state_store;

struct shard_settings {
  uint32_t index = 0;
  /// Default TTL for writes that name none; 0 = never expire.
  int64_t default_ttl_ms = 0;
  /// Receives this shard's metrics report on every tick; may be invalid.
  metrics_actor metrics;
  /// Bounds on what one message may carry or make this shard build, for
  /// every sender (HTTP, CAF, peers): state.max_value_bytes,
  /// http.max_batch_keys and http.max_reply_bytes.
  size_t max_value_bytes = 16u << 20;
  size_t max_batch_keys = 1'000;
  size_t max_reply_bytes = 16u << 20;
  /// Called on the shard's thread when closing its backend at shutdown
  /// fails (a final sync or fold): the writes it held may not be durable, so
  /// the service must not exit 0. May be empty.
  std::function<void(const caf::error&)> on_close_failure;
};

/// Spawns a shard over `store`. Blocking stores (disk, network) get a
/// detached actor with its own thread, so they never stall the scheduler.
shard_actor spawn_shard(caf::actor_system& sys,
                        std::unique_ptr<state_store> store, bool blocking,
                        shard_settings settings);

} // namespace solver_state
