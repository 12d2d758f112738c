#pragma once

// One plain-HTTP exchange with a credentials endpoint on this machine or its
// link-local network (the container endpoint of ECS and EKS Pod Identity, the
// EC2 instance metadata service), bounded by a deadline. Those endpoints
// speak plain HTTP on addresses nobody else can reach; DynamoDB's own
// requests go through http_connection instead.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace solver_state::dynamodb {
class bounded_resolver;
} // namespace solver_state::dynamodb

namespace solver_state::aws {

/// "http://host[:port]/path", split.
struct http_url {
  std::string host;
  uint16_t port = 80;
  /// False when the URL named none (80 then, or the caller's default).
  bool port_given = false;
  std::string target = "/";
};

/// The parts of `text`, or bad_request naming what is wrong (only http://).
caf::expected<http_url> parse_http_url(const std::string& text);

struct metadata_reply {
  unsigned status = 0;
  std::string body;
};

/// Sends `method` `url` with `headers` and no body, and reads the reply (at
/// most 64 KiB) within `within`: the name's lookup, connect, write and read
/// together. A host that is a name is looked up by `names` (a resolver of
/// that host and port, kept by the caller so that a lookup that hangs is
/// waited for again, not started anew at each exchange), or by one made
/// for this exchange when none is given. backend_unavailable when no reply
/// came, saying why.
caf::expected<metadata_reply>
metadata_exchange(const std::string& method, const http_url& url,
                  const std::vector<std::pair<std::string, std::string>>& headers,
                  std::chrono::milliseconds within,
                  dynamodb::bounded_resolver* names = nullptr);

} // namespace solver_state::aws
