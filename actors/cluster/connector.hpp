#pragma once

// The CONNECTOR actor: dials one peer on request. It runs detached (its own
// thread) because a dial blocks (a TCP probe, then CAF's dial and
// handshake, each up to node.request_timeout: transport.hpp), and a blocked
// scheduler thread would stall every actor of the node.

#include <caf/fwd.hpp>

#include "actors/cluster/peer.hpp"

namespace solver_state {

/// Spawns a detached connector for `settings`' peer, reporting to `peer`.
connector_actor spawn_connector(caf::actor_system& sys, peer_actor peer,
                                const peer_settings& settings);

} // namespace solver_state
