#pragma once

// The ENGINE FEED READER: on a store whose engine several nodes share
// (Redis, PostgreSQL), the watch hub gets its changes from the engine's own
// change feed (backends/change_feed.hpp) instead of from this node's
// shards, so a watcher sees every change committed through any node, in
// the engine's commit order. This actor reads the feed on its own thread,
// decodes values (compression, encryption), times the expiries of keys the
// engine expires silently, and hands the changes to the hub, at most a few
// batches ahead of it. When the feed is lost (or could not start with the
// node) it retries, and each time the feed starts reading again every
// watcher subscribed by then is told to resync: changes committed before
// that were not seen.
//
// With declared indexes it also keeps them following the writes of every
// node: each key the feed reports under an indexed prefix is sent to the
// shard that owns it, which reads it back from the engine (a read, not the
// feed's copy, so a late or reordered message cannot undo a newer write);
// after a gap in the feed every shard reads all its indexed keys again.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

class change_feed;
class value_codec;

struct engine_feed_settings {
  watch_hub_actor hub;
  std::unique_ptr<change_feed> feed;
  /// Decodes stored values into the clients' bytes.
  std::unique_ptr<value_codec> codec;
  /// The feed's start() succeeded already (before the stores served
  /// anything): no change can have been missed yet.
  bool started = false;
  /// How long one read waits for changes: also how long a stop waits for
  /// the reader.
  std::chrono::milliseconds read_wait{50};
  /// Pause between attempts to start a lost feed.
  std::chrono::milliseconds retry_pause{250};
  /// With state.indexes: every shard of the store (a key goes to the one
  /// shard_index names), and the prefixes the indexes cover. Empty: none.
  std::vector<shard_actor> index_shards;
  std::vector<std::string> index_prefixes;
};

/// Spawns the reader (detached: it blocks on the feed's connection).
caf::actor spawn_engine_feed(caf::actor_system& sys,
                             engine_feed_settings settings);

} // namespace solver_state
