#pragma once

// Composition root of distribution: what a node shows its clients and the
// network. Without node.peers the front is the local router; with peers it is
// a cluster router over one peer actor per configured peer (or the local
// router for the entry naming this node itself). With node.listen the node
// publishes, over CAF's middleman (TLS when node.tls is set), its local
// router when it is a store (no peers, or listed among its own peers), and
// its cluster router when it is a pure front node.

#include <cstdint>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/cluster/peer.hpp"
#include "actors/store.hpp"
#include "config/config.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

struct node_handles {
  /// What the HTTP gateway and in-process clients talk to.
  state_actor front;
  /// Where the front's watches subscribe: the store's hub, or with peers
  /// the cluster hub that relays every store node's changes.
  watch_hub_actor hub;
  /// When the front is the local router: its map of the shards, so the
  /// gateway can send a single-key operation straight to the owning shard
  /// (one actor hop fewer). Null with peers: the cluster router decides.
  ownership_ptr<state_actor> front_owners;
  /// Metrics including the peers' state when there are peers.
  metrics_actor metrics;
  std::vector<peer_actor> peers;
  /// Their host:port, in the same order.
  std::vector<std::string> peer_names;
  /// The cluster router and the cluster metrics actor, if spawned.
  std::vector<caf::actor> owned;
  /// What node.listen publishes: the local router or the cluster router.
  state_actor published;
  /// The bound node.listen port (0 when not listening).
  uint16_t port = 0;
  bool tls = false;
};

/// Checks the message registrations, spawns the cluster when node.peers is
/// set and publishes the front on node.listen. The middleman must have been
/// loaded (configure_node) when node_enabled(cfg).
caf::expected<node_handles> start_node(caf::actor_system& sys,
                                       const node_config& cfg,
                                       const store_handles& store);

/// Unpublishes and stops the actors start_node spawned.
void stop_node(caf::actor_system& sys, node_handles& node);

} // namespace solver_state
