#pragma once

// The CONNECTOR actor: dials one peer on request. It runs detached (its own
// thread) because CAF's remote_actor blocks until the handshake is over, and
// a blocked scheduler thread would stall every actor of the node.

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/cluster/peer.hpp"

namespace solver_state {

using peer_dial_atom = caf::atom_constant<caf::atom("peer_dial")>;
constexpr peer_dial_atom peer_dial_atom_v{};

/// The CONNECTOR actor interface.
using connector_actor = caf::typed_actor<
  /// Dials the peer once; answers the peer with peer_up or peer_failed.
  caf::reacts_to<peer_dial_atom>>;

/// Spawns a detached connector for `settings`' peer, reporting to `peer`.
connector_actor spawn_connector(caf::actor_system& sys, peer_actor peer,
                                const peer_settings& settings);

} // namespace solver_state
