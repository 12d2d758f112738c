#pragma once

// A small, generic parser for the connection strings state.type accepts:
//   scheme://[user[:password]@]host[:port][,host[:port]...][/path][?key=value&...]
// User, password, path and query values are percent-decoded. It knows no
// scheme: each plugin reads the parts it understands and rejects the rest.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace solver_state {

/// One host of a connection string's host list.
struct url_host {
  std::string host;  // without brackets for IPv6
  uint16_t port = 0; // 0 when absent
};

struct connection_url {
  std::string scheme;
  std::string user;
  std::string password;
  bool has_password = false;
  std::string host;  // without brackets for IPv6 ("::1")
  uint16_t port = 0; // 0 when absent
  /// Every host of a comma-separated list (Sentinels, PostgreSQL standbys),
  /// in the order given; the first is also `host` and `port`.
  std::vector<url_host> hosts;
  std::string path;  // without the leading '/', decoded
  std::map<std::string, std::string> query;

  /// The query value of `key`, or `fallback`.
  std::string option(const std::string& key,
                     const std::string& fallback = {}) const;
};

/// Parses `text`; bad_request naming the problem when it is malformed.
caf::expected<connection_url> parse_connection_url(std::string_view text);

/// `text` with any password replaced by "***", safe for logs and errors
/// ("redis://:secret@h:1/0" -> "redis://:***@h:1/0"). Text that is not a URL
/// comes back unchanged.
std::string redact_password(std::string_view text);

/// Reads a non-negative integer option of `url` within [lo, hi] into `out`
/// (left unchanged when the option is absent); bad_request otherwise.
caf::error read_integer_option(const connection_url& url,
                               const std::string& key, int64_t lo, int64_t hi,
                               int64_t& out);

/// The connect_timeout_ms and timeout_ms options (1 ms to 10 minutes) of a
/// network backend's URL into `connect` and `command`, each left unchanged
/// when absent; bad_request otherwise.
caf::error read_timeouts(const connection_url& url,
                         std::chrono::milliseconds& connect,
                         std::chrono::milliseconds& command);

/// bad_request when `url` lists more than one host: for backends whose
/// connection reaches one server.
caf::error reject_host_list(const connection_url& url);

/// The watches option of a shared engine's URL: `watches=local` says this
/// instance is the engine's only writer, so its watches and indexes follow
/// its own writes and it reads no change feed (whose read-back of every
/// indexed write is then saved). Sets `local`; bad_request for any other
/// value.
caf::error read_watches_option(const connection_url& url, bool& local);

/// bad_request when `url` has a query key outside `known` (usually a typo).
caf::error reject_unknown_options(const connection_url& url,
                                  std::initializer_list<std::string_view> known);

} // namespace solver_state
