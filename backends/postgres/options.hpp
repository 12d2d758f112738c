#pragma once

// What a postgresql:// connection string says:
//   postgresql://user[:password]@host[:port]/db
//     [?table=solver_state&connect_timeout_ms=N&timeout_ms=N]

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace solver_state {

struct postgres_options {
  std::string host = "127.0.0.1";
  uint16_t port = 5432;
  std::string user;
  std::string password;
  std::string dbname;
  /// The one table of the store (created if missing); [a-z_][a-z0-9_]*.
  std::string table = "solver_state";
  std::chrono::milliseconds connect_timeout{2'000};
  /// Bound on one statement's round trip (a hung server fails the operation
  /// with backend_unavailable instead of blocking the shard).
  std::chrono::milliseconds command_timeout{5'000};
  /// state.max_items (not part of the URL); 0 = unlimited.
  size_t max_items = 0;
};

/// Parses a postgresql:// URL; bad_request naming the problem.
caf::expected<postgres_options> parse_postgres_url(std::string_view url);

} // namespace solver_state
