// The cluster router: the key router over peer actors, one per store node.

#include "actors/cluster/router.hpp"

#include <memory>
#include <utility>

#include <caf/duration.hpp>

#include "actors/cluster/placement.hpp"
#include "actors/key_router.hpp"

namespace solver_state {

state_actor spawn_cluster_router(caf::actor_system& sys,
                                 cluster_members members,
                                 const fan_out_limits& limits,
                                 watch_hub_actor hub) {
  auto placement =
    std::make_shared<rendezvous_placement>(std::move(members.names));
  auto map = std::make_shared<ownership<state_actor>>();
  map->owners = std::move(members.stores);
  map->owner_of_key = [placement](std::string_view key) {
    return placement->owner(key);
  };
  map->owner_of_group = [placement](std::string_view group) {
    return placement->owner_of_group(group);
  };
  // Delegating to a peer actor is safe: it is local and always answers
  // within node.request_timeout, unlike the remote router behind it. The
  // fan-outs wait for each peer at most `timeout`.
  map->timeout = caf::duration{limits.timeout};
  map->max_reply_bytes = limits.max_reply_bytes;
  map->max_batch_keys = limits.max_batch_keys;
  map->hub = std::move(hub);
  map->counting_shards = std::move(members.local_shards);
  return spawn_key_router<state_actor>(sys, std::move(map), false);
}

} // namespace solver_state
