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

#include <chrono>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/cluster/peer.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// The peer metrics in Prometheus text format 0.0.4.
std::string render_peer_metrics(const std::vector<peer_stats>& peers);

metrics_actor spawn_cluster_metrics(caf::actor_system& sys,
                                    metrics_actor local,
                                    std::vector<peer_actor> peers,
                                    std::chrono::milliseconds timeout);

} // namespace solver_state
