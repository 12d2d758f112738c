#pragma once

// The PEER actor: this node's local stand-in for one remote store node. It
// speaks the state actor interface, forwards every request to the remote
// router with node.request_timeout (gets and batch_gets that arrive together
// travel as one batch_get), keeps at most `window` requests in flight
// (more wait in a bounded queue, beyond it backend_unavailable), and owns the
// connection: a detached connector dials the peer off the scheduler threads,
// the proxy is monitored, and a lost connection is redialled with exponential
// backoff. While the peer is unreachable every request fails at once with
// backend_unavailable.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

// Local-only atoms: these messages never leave the process.
using peer_up_atom = caf::atom_constant<caf::atom("peer_up")>;
using peer_failed_atom = caf::atom_constant<caf::atom("peer_fail")>;
using peer_retry_atom = caf::atom_constant<caf::atom("peer_retry")>;
using peer_stats_atom = caf::atom_constant<caf::atom("peer_stats")>;
using peer_flush_atom = caf::atom_constant<caf::atom("peer_flush")>;
constexpr peer_up_atom peer_up_atom_v{};
constexpr peer_failed_atom peer_failed_atom_v{};
constexpr peer_retry_atom peer_retry_atom_v{};
constexpr peer_stats_atom peer_stats_atom_v{};
constexpr peer_flush_atom peer_flush_atom_v{};

/// A peer's connection state and counters, for /metrics.
struct peer_stats {
  std::string peer;
  bool up = false;
  uint64_t connects = 0;
  uint64_t in_flight = 0;
  uint64_t queued = 0;
  /// Requests answered, by state_errc (0 = ok); "no answer" and "not
  /// connected" count as backend_unavailable.
  std::vector<uint64_t> results;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_stats& x) {
  return f(caf::meta::type_name("solver_state::peer_stats"), x.peer, x.up,
           x.connects, x.in_flight, x.queued, x.results);
}

/// The PEER actor interface.
using peer_actor = state_actor::extend<
  /// INTERNAL: the connector reached the peer; here is its router's proxy.
  caf::reacts_to<peer_up_atom, state_actor>,
  /// INTERNAL: a connection attempt failed, for this reason.
  caf::reacts_to<peer_failed_atom, std::string>,
  /// INTERNAL: the backoff delay elapsed; dial again.
  caf::reacts_to<peer_retry_atom>,
  /// INTERNAL: send the reads collected since the last flush as one batch.
  caf::reacts_to<peer_flush_atom>,
  /// Connection state and counters.
  caf::replies_to<peer_stats_atom>::with<peer_stats>>;

struct peer_settings {
  /// The peer as configured ("host:port"); names it in errors and metrics.
  std::string name;
  std::string host;
  uint16_t port = 0;
  bool tls = false;
  std::chrono::milliseconds request_timeout{2'000};
  /// Requests in flight to the peer at once (see CAF notes: beyond ~128
  /// every reply costs a scan of all pending requests).
  size_t window = 128;
  /// Requests waiting for a free slot; beyond it backend_unavailable.
  size_t max_queued = 4'096;
  /// Keys of coalesced reads per batch_get: past it the batch is sent.
  size_t max_coalesced = 1'024;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5'000};
};

/// Spawns a peer actor and starts dialling.
peer_actor spawn_peer(caf::actor_system& sys, peer_settings settings);

} // namespace solver_state
