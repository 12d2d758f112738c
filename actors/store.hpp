#pragma once

// Composition root of a local store: the backend plugin's stores, one shard
// actor per store, the router in front, the ticker and the metrics actor.

#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/key_router.hpp"
#include "config/config.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

class plugin_registry;

struct store_handles {
  state_actor router;
  metrics_actor metrics;
  ticker_actor ticker;
  std::vector<shard_actor> shards;
  /// The shards by key, placed as the router places them, for clients that
  /// may skip its hop (the HTTP gateway).
  ownership_ptr<state_actor> owners;
  std::string backend; // plugin name
};

/// Opens the backend named by cfg.type and spawns the store's actors. Fails
/// with a message naming state.type when the backend is unknown or unusable.
caf::expected<store_handles> start_store(caf::actor_system& sys,
                                         const state_config& cfg,
                                         const plugin_registry& plugins);

/// Stops every actor of the store. Shards close (flush and sync) their
/// backends as they exit.
void stop_store(store_handles& store);

} // namespace solver_state
