#pragma once

// The ROUTER: the state actor a store shows the world. Single-key operations
// are delegated to the owning shard (the shard answers the caller directly);
// list, batch_get and health fan out to the shards that can hold the keys,
// through a short-lived collector actor so the router itself never keeps a
// pile of outstanding requests.

#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

/// Spawns a router over `shards` (index i owns keys with shard_index == i).
/// The router is linked to its shards: stopping it stops them.
state_actor spawn_router(caf::actor_system& sys,
                         std::vector<shard_actor> shards);

} // namespace solver_state
