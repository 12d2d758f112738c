#pragma once

// One DynamoDB API call: JSON body, X-Amz-Target, SigV4 signature, and the
// mapping of DynamoDB's error types to ours.

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
  /// backend_unavailable when no reply came, or on throttling and 5xx
  /// (throttling is retried a few times first: it was surely not applied);
  /// backend_error with DynamoDB's type and message for every other refusal.
  caf::expected<boost::json::object> call(std::string_view action,
                                          const boost::json::object& body);

  const endpoint& where() const { return endpoint_; }

  /// DynamoDB's error type of the last failed call
  /// ("ResourceNotFoundException"), empty when it got no reply.
  const std::string& last_error_type() const { return last_error_type_; }

  http_connection& connection() { return http_; }

private:
  caf::expected<http_reply> send(std::string_view action, std::string body);

  endpoint endpoint_;
  std::shared_ptr<aws::credential_source> creds_;
  caf::error setup_error_; // before http_: set while http_ is made
  http_connection http_;
  std::string last_error_type_;
};

} // namespace solver_state::dynamodb
