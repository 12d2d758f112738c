#pragma once

// The ROUTER: the state actor a store shows the world. Single-key operations
// are delegated to the owning shard (the shard answers the caller directly);
// list, batch_get and health fan out to the shards that can hold the keys,
// through a short-lived collector actor so the router itself never keeps a
// pile of outstanding requests.

#include <chrono>
#include <cstddef>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/key_router.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// How the router's fan-outs wait and how much one reply gathers.
struct fan_out_limits {
  /// Per shard; past it the request fails with timeout.
  std::chrono::milliseconds timeout{30'000};
  size_t max_reply_bytes = 16u << 20;
  size_t max_batch_keys = 1'000;
  /// One value of a transaction (state.max_value_bytes).
  size_t max_value_bytes = 16u << 20;
  /// How a transaction over several shards runs (see key_router.hpp).
  spanning_transactions spanning = spanning_transactions::coordinate;
};

/// Who owns which key of a local store: shard i owns the keys with
/// shard_index == i. `Owner` is shard_actor for the router, state_actor for
/// clients that address a shard's state interface directly (the gateway).
template <class Owner>
ownership_ptr<Owner> local_ownership(std::vector<Owner> shards,
                                     const fan_out_limits& limits = {});

extern template ownership_ptr<shard_actor>
local_ownership<shard_actor>(std::vector<shard_actor>, const fan_out_limits&);
extern template ownership_ptr<state_actor>
local_ownership<state_actor>(std::vector<state_actor>, const fan_out_limits&);

/// Spawns a router over `shards` (index i owns keys with shard_index == i).
/// The router is linked to its shards: stopping it stops them.
/// Watch requests go to `hub`.
state_actor spawn_router(caf::actor_system& sys,
                         std::vector<shard_actor> shards,
                         const fan_out_limits& limits = {},
                         watch_hub_actor hub = {});

} // namespace solver_state
