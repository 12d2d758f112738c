#pragma once

// The metrics actor of a node with peers: passes reports through to the
// node's own metrics actor and appends the peers' connection state and
// request counters to every rendering, so /metrics shows a down peer.
//
//   state_peer_up{peer}                       gauge, 1 while connected
//   state_peer_connects_total{peer}           counter, successful dials
//   state_peer_in_flight{peer}                gauge, requests on the wire
//   state_peer_queued{peer}                   gauge, requests waiting for a slot
//   state_peer_requests_total{peer,result}    counter, by result code
//
// and, on a member node, where its handoff stands (member_guard.hpp):
//
//   state_handoff_active                      gauge, 1 while it pulls keys
//   state_handoff_sources_pending             gauge, nodes not yet pulled from
//   state_handoff_seconds                     gauge, this handoff's or the last one's duration
//   state_handoff_keys_in_total               counter, keys taken over
//   state_handoff_keys_out_total              counter, keys handed to their new owner

#include <chrono>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/cluster/peer.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// The peer metrics in Prometheus text format 0.0.4.
std::string render_peer_metrics(const std::vector<peer_stats>& peers);

/// The handoff metrics in Prometheus text format 0.0.4.
std::string render_handoff_metrics(const handoff_stats& stats);

/// `guard` is the node's member guard, or invalid when it is not a member.
metrics_actor spawn_cluster_metrics(caf::actor_system& sys,
                                    metrics_actor local,
                                    std::vector<peer_actor> peers,
                                    member_guard_actor guard,
                                    std::chrono::milliseconds timeout);

} // namespace solver_state
