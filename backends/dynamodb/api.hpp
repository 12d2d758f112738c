#pragma once

// One DynamoDB API call: JSON body, X-Amz-Target, SigV4 signature, and the
// mapping of DynamoDB's error types to ours.

#include <chrono>
#include <random>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <caf/expected.hpp>

#include "backends/dynamodb/credential_source.hpp"
#include "backends/dynamodb/endpoint.hpp"
#include "backends/dynamodb/http.hpp"
#include "backends/dynamodb/sigv4.hpp"

namespace solver_state::dynamodb {

class api_client {
public:
  /// Over HTTPS when ep.tls, with `tls` (shared by all shards) or else a
  /// context of its own; when that cannot be made, every call fails with the
  /// reason.
  api_client(endpoint ep, aws::credentials creds, tls_context tls = nullptr);
  /// The same, signing with whatever `creds` holds at each call (shared
  /// by the shards: one fetch serves them all).
  api_client(endpoint ep, std::shared_ptr<aws::credential_source> creds,
             tls_context tls = nullptr);

  /// Calls DynamoDB_20120810.`action` and returns the reply object. Errors:
  /// version_mismatch for ConditionalCheckFailedException;
  /// backend_unavailable when no reply came, or on throttling and 5xx;
  /// backend_error with DynamoDB's type and message for every other refusal.
  ///
  /// Retried, with exponential backoff and full jitter, for at most
  /// retry_budget (and half the endpoint's request_timeout), the call as a
  /// whole never outlasting request_timeout: throttling of any action (a
  /// throttled request was not applied), and 5xx of actions that change
  /// nothing (reads; a write's 5xx leaves its outcome unknown, which the
  /// caller must hear).
  caf::expected<boost::json::object> call(std::string_view action,
                                          const boost::json::object& body);

  /// The longest a call spends retrying (see call()).
  static constexpr std::chrono::milliseconds retry_budget{1'000};

  const endpoint& where() const { return endpoint_; }

  /// DynamoDB's error type of the last failed call
  /// ("ResourceNotFoundException"), empty when it got no reply.
  const std::string& last_error_type() const { return last_error_type_; }

  http_connection& connection() { return http_; }

private:
  caf::expected<http_reply> send(std::string_view action, std::string body,
                                 std::chrono::milliseconds timeout);

  /// The pause before retry `attempt` (0 for the first): full jitter, a
  /// random time up to 25 ms doubling per attempt, capped at 250 ms.
  std::chrono::milliseconds retry_pause(int attempt);

  endpoint endpoint_;
  std::shared_ptr<aws::credential_source> creds_;
  caf::error setup_error_; // before http_: set while http_ is made
  http_connection http_;
  std::string last_error_type_;
  std::minstd_rand jitter_;
};

} // namespace solver_state::dynamodb
