#pragma once

// The two calls of CAF distribution solver-state uses, over plain TCP or TLS
// depending on node.tls: publish a state actor on node.listen, and connect to
// one published by a peer.

#include <cstdint>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

/// Publishes `store` on `host:port` (port 0 picks one); the bound port.
caf::expected<uint16_t> publish_state(caf::actor_system& sys,
                                      const state_actor& store,
                                      const std::string& host, uint16_t port,
                                      bool tls);

/// Stops publishing `store` on `port`.
void unpublish_state(caf::actor_system& sys, const state_actor& store,
                     uint16_t port, bool tls);

/// Connects to the state actor published at `host:port`. Blocks until the
/// handshake ends: call it from a detached actor or a non-scheduler thread.
caf::expected<state_actor> connect_state(caf::actor_system& sys,
                                         const std::string& host,
                                         uint16_t port, bool tls);

} // namespace solver_state
