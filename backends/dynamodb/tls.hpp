#pragma once

// The TLS client side of the DynamoDB backend (dynamodbs://, tls=1): one
// OpenSSL context per store start-up, shared by every shard's connection
// (an SSL_CTX is safe to share once configured). Verification is always on:
// the server's chain must lead to a trusted CA, its certificate must name the
// host of the URL, and TLS 1.2 is the oldest version offered. There is no
// option to turn verification off: a private endpoint gets ca_file instead.

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "backends/dynamodb/endpoint.hpp"

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace solver_state::dynamodb {

using tls_context = std::shared_ptr<boost::asio::ssl::context>;

/// The client context for `ep`, trusting only the CAs in ep.ca_file when it
/// is set, else the system trust store (/etc/ssl/certs, ca-certificates).
/// bad_request saying why when the CA file cannot be read or holds no
/// certificate, or when the system trust store is missing.
caf::expected<tls_context> make_tls_context(const endpoint& ep);

/// What `ep` trusts, for logs: "CA file PATH" or "system trust store at DIR".
std::string trust_source(const endpoint& ep);

} // namespace solver_state::dynamodb
