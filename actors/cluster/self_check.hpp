#pragma once

// Start-up check that every message type can cross the wire. CAF 0.17
// connects nodes fine when types are not registered and only fails at the
// first message ("cannot serialize", then unexpected_message), so a node
// checks its own registrations before it publishes or connects.

#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

namespace solver_state {

/// The portable names of the solver_state type-ID block, in ID order.
std::vector<std::string> wire_type_names();

/// Serializes and deserializes a message holding each type of the
/// solver_state type-ID block through `sys`'s type registry, and checks that
/// the state_actor interface names no unregistered type. An error names the
/// first type that fails.
caf::error check_message_types(caf::actor_system& sys);

} // namespace solver_state
