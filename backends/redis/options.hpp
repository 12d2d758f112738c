#pragma once

// What a redis:// or redis-sentinel:// connection string says:
//   redis://[[user]:password@]host[:port][/db][?options]
//   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master-name[/db][?options]
// options: prefix=P, connect_timeout_ms=N, timeout_ms=N, wait_replicas=N,
// wait_timeout_ms=N, watches=local, and for Sentinel sentinel_password=S.
// `prefix` namespaces every Redis key the store writes, so several services
// (or tests) can share one Redis database. With Sentinel the hosts are the
// Sentinels (port 26379 when absent); the user and password are the master's.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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
  /// Sentinels to ask for the master of `master_name` (empty: connect to
  /// host:port directly). Asked again after every lost connection, so a
  /// failover is followed without a restart.
  std::vector<std::pair<std::string, uint16_t>> sentinels;
  std::string master_name;
  std::string sentinel_password; // empty = Sentinels need no AUTH
  /// Replicas that must hold a write before it is acknowledged (WAIT after
  /// each round trip that writes); 0 = acknowledge on the master's word.
  int64_t wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{1'000};
  /// watches=local: this instance is the only writer of its prefix, and
  /// reads no change feed (read_watches_option).
  bool local_watches = false;

  /// "redis 10.0.0.5:6379" or "redis master mymaster (via 3 sentinels)":
  /// whom errors and logs name.
  std::string server_name() const;

  /// The Pub/Sub channel every write of this database and prefix publishes
  /// its change on (Pub/Sub channels are not per database, so it names
  /// both): "solver-state:changes:<db>:<prefix>".
  std::string change_channel() const;
};

/// Parses a redis:// URL; bad_request with a message naming the problem.
caf::expected<redis_options> parse_redis_url(std::string_view url);

} // namespace solver_state
