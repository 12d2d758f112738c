#pragma once

// What a redis:// connection string says:
//   redis://[[user]:password@]host[:port][/db][?prefix=P&connect_timeout_ms=N&timeout_ms=N]
// `prefix` namespaces every Redis key the store writes, so several services
// (or tests) can share one Redis database.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

namespace solver_state {

struct redis_options {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  std::string user;     // Redis 6 ACL user; empty = default user
  std::string password; // empty = no AUTH
  int64_t db = 0;
  std::string prefix;
  std::chrono::milliseconds connect_timeout{1'000};
  /// Bound on one command's round trip: a hung server fails the operation
  /// with backend_unavailable instead of blocking the shard.
  std::chrono::milliseconds command_timeout{2'000};
};

/// Parses a redis:// URL; bad_request with a message naming the problem.
caf::expected<redis_options> parse_redis_url(std::string_view url);

} // namespace solver_state
