#pragma once

// The PEER actor: this node's local stand-in for one remote store node. It
// speaks the state actor interface, forwards every request to the remote
// router with node.request_timeout (gets and batch_gets that arrive together
// travel as one batch_get), keeps at most `window` requests in flight, those
// that timed out but were not answered yet included (more wait in a bounded
// queue, beyond it backend_unavailable), and owns the
// connection: a detached connector dials the peer off the scheduler threads,
// the proxy is monitored, and a lost connection is redialled with exponential
// backoff. While the peer is unreachable every request fails at once with
// backend_unavailable.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

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
  /// A request unanswered after request_timeout fails for its client but
  /// keeps its window slot until the remote answers (it is still on the
  /// wire, or in the remote's mailbox), or until the connection is lost,
  /// or at the latest until late_reply_wait. With this many such requests
  /// the peer counts as stalled: requests fail at once, without waiting or
  /// being sent, until it answers again.
  size_t max_abandoned = 64;
  std::chrono::milliseconds late_reply_wait{60'000};
  /// Most keys of one coalesced batch_get: the remote store refuses more
  /// than its http.max_batch_keys (node.cpp passes this node's).
  size_t max_coalesced = 1'000;
  /// Dial as soon as spawned. A node spawns its peers before it publishes
  /// and sets this false, then starts them (peer_retry) once it has
  /// published: a dial must never sit between the node and its publish.
  bool dial_at_start = true;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5'000};
};

/// Spawns a peer actor and starts dialling.
peer_actor spawn_peer(caf::actor_system& sys, peer_settings settings);

} // namespace solver_state
