#pragma once

// Where the service is: --url or SOLVER_STATE_URL, "http://HOST[:PORT][/BASE]".
// BASE is kept for a service behind a proxy that mounts it under a path.

#include <string>
#include <string_view>

#include "cli/failure.hpp"

namespace solver_state::cli {

constexpr std::string_view default_server_url = "http://127.0.0.1:8080";

struct server_url {
  /// As given, for messages.
  std::string text;
  /// Without the brackets of an IPv6 literal.
  std::string host;
  std::string port;
  /// "" or "/some/base" (no trailing slash); prefixed to every target.
  std::string base_path;

  /// The Host header: host, and the port unless it is 80.
  std::string host_header() const;
};

/// Parses `text`; only plain http:// is spoken (a TLS proxy in front of the
/// service, or loopback, as docs/api.md advises).
expected<server_url> parse_server_url(std::string_view text);

} // namespace solver_state::cli
