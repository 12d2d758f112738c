#include "actors/router.hpp"

#include <memory>
#include <utility>

#include <caf/duration.hpp>

#include "actors/key_router.hpp"
#include "messages/keys.hpp"

namespace solver_state {

state_actor spawn_router(caf::actor_system& sys,
                         std::vector<shard_actor> shards) {
  auto map = std::make_shared<ownership<shard_actor>>();
  auto n = shards.size();
  map->owners = std::move(shards);
  map->owner_of_key = [n](std::string_view key) { return shard_index(key, n); };
  map->owner_of_group = map->owner_of_key;
  // Shards always answer (a stuck backend is bounded by the callers).
  map->timeout = caf::infinite;
  return spawn_key_router<shard_actor>(sys, std::move(map), true);
}

} // namespace solver_state
