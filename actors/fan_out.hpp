#pragma once

// Short-lived collector actors: each answers one list, batch_get or health
// request by sending one message per owner (never one per key), merging the
// replies, and quitting. With a finite timeout on every request a collector
// always answers.

#include <string>

#include <caf/fwd.hpp>

#include "actors/key_router.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// Asks every owner and merges the sorted pages.
template <class Owner>
list_collector spawn_list_collector(caf::actor_system& sys,
                                    ownership_ptr<Owner> map);

/// Asks every owner for a page of a query and merges them in its order
/// (the shards of a node: in two halves, actors/query/shard_query_collector).
template <class Owner>
query_collector spawn_query_collector(caf::actor_system& sys,
                                      ownership_ptr<Owner> map);

/// Asks every owner and merges the id lists.
template <class Owner>
ids_collector spawn_ids_collector(caf::actor_system& sys,
                                  ownership_ptr<Owner> map);

/// Splits the keys by owner, asks each owner for its part, and puts the
/// answers back in the order of the request.
template <class Owner>
batch_collector spawn_batch_collector(caf::actor_system& sys,
                                      ownership_ptr<Owner> map);

/// Asks every owner to delete under a prefix and sums what they removed.
template <class Owner>
delete_prefix_collector
spawn_delete_prefix_collector(caf::actor_system& sys,
                              ownership_ptr<Owner> map);

/// "ok" when every owner is healthy, else the first failure.
template <class Owner>
health_collector spawn_health_collector(caf::actor_system& sys,
                                        ownership_ptr<Owner> map);

} // namespace solver_state
