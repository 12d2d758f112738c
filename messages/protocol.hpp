#pragma once

// Registers the protocol with an actor system configuration. Call it on every
// actor_system_config that talks to solver-state, local or remote.

#include <caf/fwd.hpp>

namespace solver_state {

/// Adds the solver_state type-ID block, the actor handles and the error
/// renderer to `cfg`.
void register_message_types(caf::actor_system_config& cfg);

} // namespace solver_state
