#pragma once

// The CLUSTER ROUTER: the state actor of a node with node.peers. It speaks
// the full state actor interface, so the HTTP gateway and in-process solver
// actors use it exactly like the local router. Keys are spread over the
// peers by rendezvous hashing of their placement group: single-key
// operations go to the owner's peer actor; list and batch_get send one
// message per peer and merge; health fails while any peer is unreachable.

#include <chrono>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/router.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

struct cluster_members {
  /// Peer names as configured; they decide placement, so every node must
  /// list the same names in the same spelling.
  std::vector<std::string> names;
  /// One state actor per name: a peer actor, or this node's own router when
  /// it lists itself.
  std::vector<state_actor> stores;
  /// This node's own store's shards: where a transaction the cluster router
  /// refuses (keys of several nodes) is counted, in this node's
  /// state_operations_total; no store node ever sees it.
  std::vector<shard_actor> local_shards;
};

/// Spawns a cluster router over `members`. `limits.timeout` bounds each
/// fanned-out request to a member (the peer actors answer within their own
/// timeout); its reply and batch bounds are the local store's, so a batch
/// spread over nodes meets the same ones as a batch on one node. Watch
/// requests go to `hub`, the node's cluster hub (see watch_relay.hpp).
state_actor spawn_cluster_router(caf::actor_system& sys,
                                 cluster_members members,
                                 const fan_out_limits& limits,
                                 watch_hub_actor hub);

} // namespace solver_state
