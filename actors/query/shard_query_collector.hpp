#pragma once

// A query over the shards of one node, in two halves: each shard finds its
// page in its indexes alone (keys, versions, sort values), the collector
// merges them and keeps the page, and only the shards holding its items
// read them from their backends (confirming versions, fetching values).
// A page of 100 over 4 shards reads 100 values, not 4 x 101.

#include <caf/fwd.hpp>

#include "actors/key_router.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// Answers one query_atom and quits, within the map's timeout counted from
/// the request (the two halves share it).
query_collector spawn_shard_query_collector(caf::actor_system& sys,
                                            ownership_ptr<shard_actor> map);

} // namespace solver_state
