#pragma once

// The two calls of CAF distribution solver-state uses, over plain TCP or TLS
// depending on node.tls: publish a state actor on node.listen, and connect to
// one published by a peer.

#include <chrono>
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

/// Stops publishing `store` on `port`, waiting at most `timeout` for the
/// middleman to confirm (it answers at once unless busy; a stop must not
/// wait on it for long).
void unpublish_state(caf::actor_system& sys, const state_actor& store,
                     uint16_t port, bool tls,
                     std::chrono::milliseconds timeout = std::chrono::seconds{2});

/// Connects to the state actor published at `host:port`: first a TCP
/// connect of our own within `timeout` (port_probe.hpp), so that CAF's
/// middleman, which dials with a blocking connect() and no timeout, only
/// dials a port that just answered; then CAF's dial and handshake, awaited
/// at most `timeout` more. Blocks the caller that long: call it from a
/// detached actor or a non-scheduler thread.
caf::expected<state_actor>
connect_state(caf::actor_system& sys, const std::string& host, uint16_t port,
              bool tls,
              std::chrono::milliseconds timeout = std::chrono::seconds{5});

} // namespace solver_state
