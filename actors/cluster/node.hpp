#pragma once

// Composition root of distribution: what a node shows its clients and the
// network. Without members (or node.peers) the front is the local router;
// with them it is a cluster router over one peer actor per other member and
// this node's member guard for its own share. With node.listen the node
// publishes, over CAF's middleman (TLS when node.tls is set), its member
// guard when it holds keys (a member, or a node leaving the cluster), its
// local router when it is a plain store of a front (no members), and its
// cluster router when it is a pure front node.

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
  /// Their host:port, in the same order (the other members, then the
  /// leaving nodes).
  std::vector<std::string> peer_names;
  /// On a member or leaving node: the guard in front of its store, which
  /// also runs its handoff (member_guard.hpp).
  member_guard_actor guard;
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
/// loaded (configure_node) when node_enabled(cfg). `handoff_marker` is
/// where a member records a finished handoff (empty: its store keeps
/// nothing across restarts, so every start pulls).
caf::expected<node_handles> start_node(caf::actor_system& sys,
                                       const node_config& cfg,
                                       const store_handles& store,
                                       const std::string& handoff_marker = {});

/// Where a member records that it pulled every key it owns under its
/// member list: beside the data of the file and rocksdb backends ('~'
/// names are the file backend's own), in node.state_dir for the memory
/// backend (named after node.listen, so nodes never share one), else
/// nowhere (empty: every start pulls).
std::string handoff_marker_for(const state_config& state,
                               const node_config& node);

/// Unpublishes and stops the actors start_node spawned.
void stop_node(caf::actor_system& sys, node_handles& node);

} // namespace solver_state
