#pragma once

// What a postgresql:// connection string says:
//   postgresql://user[:password]@host[:port][,host[:port]...]/db
//     [?table=solver_state&connect_timeout_ms=N&timeout_ms=N
//      &target_session_attrs=read-write&watches=local]
// Several hosts (a primary and its standbys) are tried in order, as libpq
// does, for the first that accepts writes: after a failover the next
// connection finds the promoted standby by itself.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

namespace solver_state {

struct postgres_options {
  /// host, port of every server in the URL's order (port 5432 if absent).
  std::vector<std::pair<std::string, uint16_t>> hosts{{"127.0.0.1", 5432}};
  /// libpq's target_session_attrs: read-write (the default: the store
  /// writes), primary, or any.
  std::string target_session_attrs = "read-write";
  std::string user;
  std::string password;
  std::string dbname;
  /// The one table of the store (created if missing); [a-z_][a-z0-9_]*.
  std::string table = "solver_state";
  std::chrono::milliseconds connect_timeout{2'000};
  /// Bound on one statement's round trip (a hung server fails the operation
  /// with backend_unavailable instead of blocking the shard).
  std::chrono::milliseconds command_timeout{5'000};
  /// watches=local: this instance is the table's only writer, and reads no
  /// change feed (read_watches_option).
  bool local_watches = false;
  /// What pg_stat_activity shows for the connection (not part of the URL).
  std::string application_name = "solver-state";
  /// state.max_items (not part of the URL); 0 = unlimited.
  size_t max_items = 0;

  /// "host:port" or "h1:p1,h2:p2": whom errors and logs name.
  std::string server_name() const;
};

/// Parses a postgresql:// URL; bad_request naming the problem.
caf::expected<postgres_options> parse_postgres_url(std::string_view url);

} // namespace solver_state
