#pragma once

// How a solver-state process joins the cluster: which CAF modules it loads
// and how the middleman is tuned (heartbeats, application identifier, TLS).
// Configuration flows one way: node_config -> actor_system_config, before
// the actor system exists.

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "config/config.hpp"

namespace solver_state {

/// The BASP application identifier of solver-state nodes, with the version
/// of the wire protocol: unrelated CAF programs (default "generic-caf-app")
/// and nodes whose messages have other fields fail the handshake instead
/// of connecting and then failing at the first message they cannot read.
/// Bump the number whenever a type of messages/ that crosses the wire
/// changes its fields, or what a field means (2: batch reads name the
/// values they cannot read; 3: query cursors carry a digest of their query,
/// which a node of version 2 cannot read, and would merge owners' pages
/// past where one of them ended; 4: query cursors carry their key's length
/// and digest whole numbers exactly, "c3:" cursors a node of version 3
/// cannot read, with the same effect).
constexpr const char* node_app_identifier = "solver-state/4";

/// True when this process takes part in distribution (node.listen or
/// node.peers set); only then is the middleman loaded.
bool node_enabled(const node_config& cfg);

/// Loads the io middleman (and the openssl manager when node.tls is set) and
/// applies heartbeat, connection timeout and application identifier. Fails
/// when the TLS files cannot be read or do not belong together, so that a bad
/// certificate is reported at start-up and not on the first connection.
caf::error configure_node(caf::actor_system_config& caf_cfg,
                          const node_config& cfg);

/// Checks that the certificate, key and CA file of `tls` load and that the
/// key matches the certificate.
caf::error check_tls_files(const tls_config& tls);

} // namespace solver_state
