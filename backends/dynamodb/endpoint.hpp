#pragma once

// state.type for the DynamoDB backend, parsed:
//   dynamodb://HOST[:PORT]/TABLE[?region=R&timeout_ms=N&connect_timeout_ms=N
//                                &sweep_interval_s=N&tls=0|1&ca_file=PATH
//                                &watches=local]
// dynamodb:// speaks plain HTTP (dynalite, DynamoDB Local, a VPC proxy);
// dynamodbs:// or tls=1 speak HTTPS (AWS), verifying the server against the
// system trust store, or only against the CA bundle ca_file names. Option
// values are percent-decoded (ca_file=/etc/my%20ca.pem).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace solver_state::dynamodb {

struct endpoint {
  std::string host;
  uint16_t port = 80;
  std::string table;
  std::string region; // default: AWS_REGION, AWS_DEFAULT_REGION, us-east-1
  bool tls = false;
  /// PEM bundle of the CAs trusted for HTTPS; empty: the system trust store.
  std::string ca_file;
  /// Bound on the TCP connect, and again on the TLS handshake.
  std::chrono::milliseconds connect_timeout{1'000};
  /// Bound on one call (send + reply, retries included, see api_client);
  /// past it: backend_unavailable. Below http.request_timeout's default
  /// (5 s), so that a DynamoDB that hangs answers with this backend's own
  /// error rather than the gateway's 504.
  std::chrono::milliseconds request_timeout{4'000};
  /// Minimum time between two sweeps of expired items (they are invisible to
  /// reads anyway; the sweep only reclaims space).
  std::chrono::seconds sweep_interval{60};
  /// watches=local: watches see this node's own writes only (DynamoDB
  /// Streams are not read here), for a table that no other node writes.
  /// Without it watches are refused: another node's writes would be missed
  /// without a word.
  bool local_watches = false;

  /// The Host header: "host" or "host:port" when the port is not the default.
  std::string host_header() const;
};

/// Parses `url`; bad_request naming the problem when it is malformed.
caf::expected<endpoint> parse_endpoint(std::string_view url);

} // namespace solver_state::dynamodb
