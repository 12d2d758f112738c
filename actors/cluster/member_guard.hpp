#pragma once

// What a member node publishes on node.listen: its local router behind a
// check that every key it is asked about is its own. Peers send a key to
// the node that owns it, so a key that arrives elsewhere was sent by a node
// with another member list (or by a client that connected to the wrong
// node): serving it would write a copy no other node ever reads. It gets
// bad_request naming the key's owner instead.

#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

/// `members` as configured (node.peers), `self` this node's entry in it.
state_actor spawn_member_guard(caf::actor_system& sys, state_actor local,
                               std::vector<std::string> members,
                               std::string self);

} // namespace solver_state
