// The local store's router: a key router over its shards that places each
// key with shard_index() and is linked to them (stopping it stops them).

#include "actors/router.hpp"

#include <memory>
#include <utility>

#include <caf/duration.hpp>

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

namespace solver_state {

template <class Owner>
ownership_ptr<Owner> local_ownership(std::vector<Owner> shards) {
  auto map = std::make_shared<ownership<Owner>>();
  auto n = shards.size();
  map->owners = std::move(shards);
  map->owner_of_key = [n](std::string_view key) { return shard_index(key, n); };
  map->owner_of_group = map->owner_of_key;
  // Shards always answer (a stuck backend is bounded by the callers).
  map->timeout = caf::infinite;
  return map;
}

template ownership_ptr<shard_actor>
local_ownership<shard_actor>(std::vector<shard_actor>);
template ownership_ptr<state_actor>
local_ownership<state_actor>(std::vector<state_actor>);

state_actor spawn_router(caf::actor_system& sys,
                         std::vector<shard_actor> shards) {
  return spawn_key_router<shard_actor>(
    sys, local_ownership<shard_actor>(std::move(shards)), true);
}

} // namespace solver_state
