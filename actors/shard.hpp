#pragma once

// The SHARD actor: owns the keys of one shard and the one backend store that
// holds them. Nothing else touches the store, so it needs no lock.
//
// Delete by prefix runs in steps: each lists up to 512 live keys after the
// last one handled and erases them through the store's single-key erase
// (apply, as a pipelined DELETE would), then the next step goes to the back
// of the mailbox, so requests that arrived meanwhile are served in between
// and memory holds one chunk. The answer, sent once at the end (after the
// group commit that makes the erases durable), counts the live values
// removed; keys that expired are not counted. Keys written under the prefix
// during the deletion are removed when they sort after the cursor at the
// time of their write, kept otherwise: "may or may not". A request's limit
// ends the deletion early with `more` set.

#include <cstddef>
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>

#include <caf/fwd.hpp>

#include "config/config.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

class state_store;

struct shard_settings {
  uint32_t index = 0;
  /// Default TTL for writes that name none; 0 = never expire.
  int64_t default_ttl_ms = 0;
  /// Receives this shard's metrics report on every tick; may be invalid.
  metrics_actor metrics;
  /// Receives this shard's committed changes (watches); may be invalid:
  /// then none are recorded. Subscriptions sent to the shard go there too.
  watch_hub_actor hub;
  /// False when the hub gets the changes from elsewhere (the engine's
  /// change feed, actors/watch/engine_feed.hpp): the shard sends none.
  bool changes_to_hub = true;
  /// Bounds on what one message may carry or make this shard build, for
  /// every sender (HTTP, CAF, peers): state.max_value_bytes,
  /// http.max_batch_keys and http.max_reply_bytes.
  size_t max_value_bytes = 16u << 20;
  size_t max_batch_keys = 1'000;
  size_t max_reply_bytes = 16u << 20;
  /// Declared indexes (state.indexes) and this shard's place among the
  /// store's `shard_count` shards: it indexes the keys it owns.
  std::vector<index_config> indexes;
  uint32_t shard_count = 1;
  /// Called on the shard's thread when closing its backend at shutdown
  /// fails (a final sync or fold): the writes it held may not be durable, so
  /// the service must not exit 0. May be empty.
  std::function<void(const caf::error&)> on_close_failure;
  /// After a clean close at shutdown, the shard leaves its backend and
  /// indexes to the process's exit (util/kept_until_exit.hpp) instead of
  /// freeing them: for a process that exits next (app/main.cpp). Freeing a
  /// large store is a free per key, value and map node, a second or more
  /// after a write load; the exit returns it all at once.
  bool memory_to_exit = false;
};

/// Spawns a shard over `store`. Blocking stores (disk, network) get a
/// detached actor with its own thread, so they never stall the scheduler.
shard_actor spawn_shard(caf::actor_system& sys,
                        std::unique_ptr<state_store> store, bool blocking,
                        shard_settings settings);

} // namespace solver_state
