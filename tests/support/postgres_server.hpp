#pragma once

// A real PostgreSQL 15 cluster for tests and benchmarks: initdb in a temp
// dir, listening on 127.0.0.1 at a free port (socket in the temp dir),
// fsync off; stopped when destroyed. PostgreSQL refuses to run as root, so
// when the tests run as root (CI) every server command runs as the
// `postgres` system user (runuser).

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/server_process.hpp"

namespace solver_state::testing {

/// Where Debian's PostgreSQL 15 programs are ("/usr/lib/postgresql/15/bin/").
extern const std::string postgres_bin;

/// Runs `argv` as the postgres system user when the tests run as root;
/// its exit status, its output appended to `log`.
int run_as_postgres(std::vector<std::string> argv, const std::string& log);

/// When root: makes `dir` the postgres user's; throws when impossible.
void hand_to_postgres(const std::string& dir);

/// The prefix that runs a shell command as the server's owner.
std::string as_postgres_prefix();

class postgres_server {
public:
  /// Creates and starts the cluster; throws if it does not come up.
  postgres_server();
  ~postgres_server();

  uint16_t port() const { return port_; }

  /// postgresql://postgres@127.0.0.1:PORT/postgres
  std::string url() const;

  /// Stops the server at once (pg_ctl -m immediate: no clean shutdown).
  void kill();

  /// Starts it again on the same port; the data survives.
  void restart();

  /// Runs SQL with psql; its exit status.
  int sql(const std::string& statement) const;

  /// Empties the store's table if it exists.
  void truncate(const std::string& table = "solver_state") const;

  const std::string& dir() const { return dir_.path(); }

private:
  bool start();
  int as_postgres(std::vector<std::string> argv) const;

  temp_dir dir_{"postgres"};
  uint16_t port_ = 0;
  bool running_ = false;
};

/// One cluster per test binary, started on first use.
postgres_server& shared_postgres();

} // namespace solver_state::testing
