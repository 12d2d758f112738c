#pragma once

// Sessions of the tests' own on a real PostgreSQL (postgres_server.hpp),
// beside the stores under test: one that holds a row lock as a slow
// transaction of another client would, and a look at pg_stat_activity to
// find (and end or stop) the server process of a store's connection.

#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backends/postgres/connection.hpp"
#include "backends/postgres/options.hpp"
#include "tests/support/postgres_server.hpp"

namespace solver_state::testing {

/// A plain connection to `server` (no schema, no prepared statements),
/// allowed `timeout` per statement (and as long idle in a transaction).
inline postgres_options direct_options(
  const postgres_server& server,
  std::chrono::milliseconds timeout = std::chrono::seconds{30}) {
  postgres_options opts;
  opts.hosts = {{"127.0.0.1", server.port()}};
  opts.user = "postgres";
  opts.dbname = "postgres";
  opts.application_name = "solver-state test";
  opts.command_timeout = timeout;
  return opts;
}

/// The first column of the first row of `sql`'s answer, as text ("" when
/// there is no row).
inline std::string scalar(const postgres_server& server,
                          const std::string& sql) {
  postgres_connection probe{direct_options(server), nullptr};
  auto rows = probe.exec(sql);
  INFO(sql << ": " << (rows ? "" : message_of(rows.error())));
  REQUIRE(rows);
  return rows->size() == 0 ? std::string{} : std::string{rows->bytes(0, 0)};
}

/// The server processes of the sessions named `application_name`.
inline std::vector<int> session_pids(const postgres_server& server,
                                     const std::string& application_name) {
  postgres_connection probe{direct_options(server), nullptr};
  auto rows = probe.exec("SELECT pid FROM pg_stat_activity WHERE "
                         "application_name = '" + application_name + "'");
  REQUIRE(rows);
  std::vector<int> pids;
  for (int r = 0; r < rows->size(); ++r)
    pids.push_back(std::stoi(std::string{rows->bytes(r, 0)}));
  return pids;
}

/// Another client's transaction that updated the row of `key` in `table`
/// and holds its lock (and the table's RowExclusiveLock) until release()
/// or its end: a slow transaction, or one whose client froze.
class row_lock_holder {
public:
  row_lock_holder(const postgres_server& server, const std::string& table,
                  const std::string& key)
    : conn_(direct_options(server), nullptr) {
    auto locked = conn_.exec("BEGIN; UPDATE " + table
                             + " SET value = value WHERE key = '"
                             + key + "'::bytea");
    INFO((locked ? std::string{} : message_of(locked.error())));
    REQUIRE(locked);
    REQUIRE(locked->affected() == 1);
  }

  ~row_lock_holder() { release(); }

  void release() {
    if (open_)
      conn_.exec("ROLLBACK");
    open_ = false;
  }

private:
  postgres_connection conn_;
  bool open_ = true;
};

} // namespace solver_state::testing
