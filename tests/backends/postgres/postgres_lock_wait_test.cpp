// The PostgreSQL backend while another client holds a row lock of its
// table: a write of that row fails in its own time and stops waiting on the
// server too; a reconnect meanwhile (its schema check) stops no writer of
// any other key; a session idle inside a transaction does not hold its
// locks for ever; and the schema is completed on a later connection.

#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "backends/postgres/schema.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/postgres_sessions.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

std::chrono::milliseconds since(steady::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
    steady::now() - start);
}

/// Writes `key` until a write succeeds (the first ones may meet the
/// reconnect backoff) or `limit` passes; how long it took, or the limit.
std::chrono::milliseconds time_to_write(state_store& s, const std::string& key,
                                        std::chrono::milliseconds limit) {
  auto start = steady::now();
  std::string last;
  while (since(start) < limit) {
    auto now = wall_ms();
    auto written = s.set(set_request{key, "v", 0, {}}, 0, now);
    if (written)
      return since(start);
    last = message_of(written.error());
    std::this_thread::sleep_for(20ms);
  }
  UNSCOPED_INFO("the last write of " << key << " failed: " << last);
  return limit;
}

/// Sessions of the stores under test waiting for a lock now.
int store_sessions_waiting_for_a_lock(const postgres_server& server) {
  return std::stoi(scalar(server, "SELECT count(*) FROM pg_stat_activity "
                                  "WHERE application_name = 'solver-state' "
                                  "AND wait_event_type = 'Lock'"));
}

const std::string hot = "state:lw:hot";

} // namespace

// A write of a row another transaction held timed out on our side only:
// its statement went on waiting on the server, the reconnect's DDL
// (CREATE INDEX IF NOT EXISTS, CREATE OR REPLACE TRIGGER) queued for a
// table lock behind it, and PostgreSQL queued every later writer of the
// table, from every session and node, behind that DDL.
TEST_CASE("postgresql: while another transaction holds a row, a write of "
          "it fails in time and a reconnect stops no other writer") {
  auto& server = shared_postgres();
  auto url = server.url() + "?table=lock_wait&timeout_ms=500";
  auto a = open_stores(url);
  auto& store_a = *a[0];
  server.truncate("lock_wait");
  auto now = wall_ms();
  REQUIRE(store_a.set(set_request{hot, "seed", 0, {}}, 0, now));
  auto a_sessions = session_pids(server, "solver-state");
  REQUIRE(a_sessions.size() == 1);
  auto b = open_stores(url);
  auto& store_b = *b[0];
  REQUIRE(store_b.set(set_request{"state:lw:b0", "v", 0, {}}, 0, now));

  row_lock_holder holder{server, "lock_wait", hot};
  auto start = steady::now();
  CHECK_FALSE(store_a.set(set_request{hot, "mine", 0, {}}, 0, now));
  CHECK(since(start) < 1000ms);
  // The server stops waiting too: an abandoned statement keeps its place
  // in the lock queue otherwise.
  CHECK(wait_until(
    [&] { return store_sessions_waiting_for_a_lock(server) == 0; }, 1s));

  // A's session ends (a network failure, a restarted pooler): its next
  // write reconnects while the row is still held.
  for (int pid : a_sessions)
    REQUIRE(scalar(server, "SELECT pg_terminate_backend("
                             + std::to_string(pid) + ")")
            == "t");
  CHECK(time_to_write(store_a, "state:lw:a1", 3s) < 1500ms);
  CHECK(time_to_write(store_b, "state:lw:b1", 3s) < 1000ms);
  CHECK(store_sessions_waiting_for_a_lock(server) == 0);
  holder.release();
  CHECK(store_a.get(hot, wall_ms())->value == "seed");
}

// A node that froze (SIGSTOP, a paused VM) between two statements of a
// transaction held its row locks for as long as its session lived.
TEST_CASE("postgresql: a session idle inside a transaction is ended, and "
          "its row locks go with it") {
  auto& server = shared_postgres();
  auto url = server.url() + "?table=lock_idle&timeout_ms=500";
  auto stores = open_stores(url);
  auto& s = *stores[0];
  server.truncate("lock_idle");
  REQUIRE(s.set(set_request{hot, "seed", 0, {}}, 0, wall_ms()));
  // A connection as the store makes them (same timeouts), whose client
  // stops between the statements of its transaction.
  auto opts = direct_options(server, 500ms);
  postgres_connection frozen{opts, nullptr};
  REQUIRE(frozen.exec("BEGIN; UPDATE lock_idle SET value = value WHERE "
                      "key = '" + hot + "'::bytea"));
  std::this_thread::sleep_for(1500ms); // past idle_in_transaction (1 s)
  auto start = steady::now();
  CHECK(s.set(set_request{hot, "after", 0, {}}, 0, wall_ms()));
  CHECK(since(start) < 300ms);
  CHECK_FALSE(frozen.exec("COMMIT")); // its session was ended
}

// What the catalog lacks of the schema (here: the expiry index, and a
// change function as another version wrote it) is put in place by a new
// connection; while another transaction holds a row of the table, that
// connection waits at most schema_lock_wait for the table lock, serves
// without the missing parts, and the next connection adds them.
TEST_CASE("postgresql: a connection completes the schema, and serves "
          "without a part it cannot lock the table for") {
  auto& server = shared_postgres();
  auto url = server.url() + "?table=lock_schema&timeout_ms=1000";
  {
    auto first = open_stores(url);
    REQUIRE(first[0]->set(set_request{hot, "seed", 0, {}}, 0, wall_ms()));
  }
  REQUIRE(server.sql("DROP INDEX lock_schema_expiry;"
                     "CREATE OR REPLACE FUNCTION lock_schema_changed() "
                     "RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "RETURN NULL; END $$")
          == 0);
  const std::string index_there =
    "SELECT to_regclass('lock_schema_expiry') IS NOT NULL";
  const std::string function_notifies =
    "SELECT position('pg_notify' in prosrc) > 0 FROM pg_proc "
    "WHERE proname = 'lock_schema_changed'";
  {
    row_lock_holder holder{server, "lock_schema", hot};
    auto start = steady::now();
    auto stores = open_stores(url);
    CHECK(stores[0]->set(set_request{"state:lw:other", "v", 0, {}}, 0,
                         wall_ms()));
    CHECK(since(start) < schema_lock_wait + 500ms);
    // Not now: the index needs a lock on the table.
    CHECK(scalar(server, index_there) == "f");
    CHECK(scalar(server, function_notifies) == "f");
  }
  auto stores = open_stores(url);
  CHECK(stores[0]->get(hot, wall_ms())->value == "seed");
  CHECK(scalar(server, index_there) == "t");
  CHECK(scalar(server, function_notifies) == "t");
}
