#pragma once

// A PostgreSQL primary and one streaming standby (pg_basebackup) for
// failover tests, each in its own temp dir on a free loopback port, as the
// `postgres` system user when the tests run as root; both stopped when
// destroyed. With `synchronous`, the primary commits only once the standby
// has the commit's WAL (synchronous_standby_names, set on the primary's
// command line so that the promoted standby does not wait for a standby of
// its own).

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/server_process.hpp"

namespace solver_state::testing {

class postgres_replicas {
public:
  /// Starts both and waits until the standby streams (in sync when
  /// `synchronous`); throws if they do not come up.
  explicit postgres_replicas(bool synchronous);
  ~postgres_replicas();

  uint16_t primary_port() const { return primary_port_; }
  uint16_t standby_port() const { return standby_port_; }

  /// postgresql://postgres@127.0.0.1:PRIMARY,127.0.0.1:STANDBY/postgres,
  /// then `query`.
  std::string url(const std::string& query = {}) const;

  /// Points the standby at a port where nothing listens (reloaded at
  /// once): it keeps its data and falls behind, as behind a broken link.
  void detach_standby();

  /// Waits until the standby has replayed everything the primary has
  /// written so far (an asynchronous standby may lag behind a commit);
  /// throws after 10 s.
  void wait_standby_caught_up();

  /// Stops the primary at once (pg_ctl -m immediate: a crash).
  void kill_primary();

  /// Promotes the standby to primary and waits until it accepts writes.
  void promote_standby();

private:
  int as_postgres(std::vector<std::string> argv) const;
  std::string sql(uint16_t port, const std::string& statement) const;
  void start(const std::string& data, uint16_t port,
             const std::string& extra);
  std::string data(const char* which) const;

  temp_dir dir_{"pg-replicas"};
  uint16_t primary_port_ = 0;
  uint16_t standby_port_ = 0;
  bool primary_running_ = false;
  bool standby_running_ = false;
};

} // namespace solver_state::testing
