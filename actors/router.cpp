// The local store's router: a key router over its shards that places each
// key by its placement group (shard_index()) and is linked to them (stopping it stops them).

#include "actors/router.hpp"

#include <memory>
#include <utility>

#include <caf/duration.hpp>

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

namespace solver_state {

template <class Owner>
ownership_ptr<Owner> local_ownership(std::vector<Owner> shards,
                                     const fan_out_limits& limits) {
  auto map = std::make_shared<ownership<Owner>>();
  auto n = shards.size();
  map->owners = std::move(shards);
  map->owner_of_key = [n](std::string_view key) { return shard_index(key, n); };
  // A group is hashed as it is, never as a key: read as a key, the order id
  // `{a}` (of `order:t:{a}`) would be placed by its tag `a`.
  map->owner_of_group = [n](std::string_view group) {
    return shard_of_group(group, n);
  };
  map->timeout = caf::duration{limits.timeout};
  map->max_reply_bytes = limits.max_reply_bytes;
  map->max_batch_keys = limits.max_batch_keys;
  map->max_value_bytes = limits.max_value_bytes;
  map->spanning = limits.spanning;
  return map;
}

template ownership_ptr<shard_actor>
local_ownership<shard_actor>(std::vector<shard_actor>, const fan_out_limits&);
template ownership_ptr<state_actor>
local_ownership<state_actor>(std::vector<state_actor>, const fan_out_limits&);

state_actor spawn_router(caf::actor_system& sys,
                         std::vector<shard_actor> shards,
                         const fan_out_limits& limits, watch_hub_actor hub) {
  auto map = local_ownership<shard_actor>(std::move(shards), limits);
  // local_ownership hands out a const map: set the hub on a copy.
  auto with_hub = std::make_shared<ownership<shard_actor>>(*map);
  with_hub->hub = std::move(hub);
  return spawn_key_router<shard_actor>(sys, std::move(with_hub), true);
}

} // namespace solver_state
