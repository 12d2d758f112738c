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

/// `table` on the shared server, with timeout_ms 500.
std::string lock_url(const postgres_server& server, const std::string& table) {
  return server.url() + "?table=" + table + "&timeout_ms=500";
}

/// One store on `table` (lock_url), the table emptied and `hot` seeded.
store_list seeded_store(postgres_server& server, const std::string& table) {
  auto stores = open_stores(lock_url(server, table));
  server.truncate(table);
  REQUIRE(stores[0]->set(set_request{hot, "seed", 0, {}}, 0, wall_ms()));
  return stores;
}

} // namespace

// A write of a row another transaction held timed out on our side only:
// its statement went on waiting on the server, the reconnect's DDL
// (CREATE INDEX IF NOT EXISTS, CREATE OR REPLACE TRIGGER) queued for a
// table lock behind it, and PostgreSQL queued every later writer of the
// table, from every session and node, behind that DDL.
TEST_CASE("postgresql: while another transaction holds a row, a write of "
          "it fails in time and a reconnect stops no other writer") {
  auto& server = shared_postgres();
  auto url = lock_url(server, "lock_wait");
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
  auto stores = seeded_store(server, "lock_idle");
  auto& s = *stores[0];
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

namespace {

/// 20 sets of `hot` and 20 of other keys, taking turns, after `first`.
std::vector<pending_op> hot_and_other_sets(std::vector<pending_op> first) {
  auto ops = std::move(first);
  for (int i = 0; i < 20; ++i) {
    ops.push_back(set_op(hot, "batch " + std::to_string(i)));
    ops.push_back(set_op("state:lw:o" + std::to_string(i), "v"));
  }
  return ops;
}

/// Checks the outcomes of hot_and_other_sets' ops from index `from`.
void check_hot_failed_others_written(const std::vector<pending_op>& ops,
                                     size_t from) {
  for (size_t i = from; i < ops.size(); ++i) {
    INFO("op " << i << " on " << ops[i].target() << ": "
               << (ops[i].failure() ? message_of(ops[i].failure()) : "ok"));
    if ((i - from) % 2 == 0) {
      CHECK(code(ops[i]) == state_errc::backend_unavailable);
    } else {
      CHECK(code(ops[i]) == state_errc::none);
    }
  }
}

} // namespace

// A statement or lock timeout was backend_error (500), and a batch that
// failed on one was run again op by op, each op on the held row paying the
// timeout again: 20 such ops kept 20 writes of other keys waiting 8 s.
TEST_CASE("postgresql: a write that waits out the statement timeout is "
          "503, and a batch with it writes the other keys at once") {
  auto& server = shared_postgres();
  auto stores = seeded_store(server, "lock_batch");
  auto& s = *stores[0];
  // A constraint the store knows nothing about, for a statement that fails
  // for another reason than a wait (added before the row is held: ALTER
  // TABLE would wait for it).
  REQUIRE(server.sql("ALTER TABLE lock_batch DROP CONSTRAINT IF EXISTS "
                     "small; ALTER TABLE lock_batch ADD CONSTRAINT small "
                     "CHECK (length(value) < 100)")
          == 0);
  row_lock_holder holder{server, "lock_batch", hot};

  auto alone = s.set(set_request{hot, "alone", 0, {}}, 0, wall_ms());
  REQUIRE_FALSE(alone);
  CHECK(code_of(alone.error()) == state_errc::backend_unavailable);
  CHECK(failed_with_state(alone.error(), "57014"));

  SECTION("the held key's ops fail, the batch runs again without them") {
    auto ops = hot_and_other_sets({});
    auto start = steady::now();
    s.apply(ops, wall_ms());
    CHECK(since(start) < 1000ms);
    check_hot_failed_others_written(ops, 0);
  }
  SECTION("after another statement failed, op by op: the held key's first "
          "op waits, its later ones do not") {
    std::vector<pending_op> first;
    first.push_back(set_op("state:lw:big", std::string(200, 'x')));
    auto ops = hot_and_other_sets(std::move(first));
    auto start = steady::now();
    s.apply(ops, wall_ms());
    CHECK(since(start) < 1500ms);
    CHECK(code(ops[0]) == state_errc::backend_error);
    check_hot_failed_others_written(ops, 1);
  }
  holder.release();
  auto now = wall_ms();
  CHECK(s.get(hot, now)->value == "seed");
  CHECK(s.get("state:lw:o19", now)->value == "v");
}

// A transaction step cancelled by the statement timeout left the session
// inside its failed transaction when the error meant "connection lost":
// no ROLLBACK, and every later statement of the store failed.
TEST_CASE("postgresql: a transaction that waits out the statement timeout "
          "is 503 and rolls back, and the store goes on") {
  auto& server = shared_postgres();
  auto stores = seeded_store(server, "lock_txn");
  auto& s = *stores[0];
  {
    row_lock_holder holder{server, "lock_txn", hot};
    std::vector<pending_op> ops;
    ops.push_back(set_op("state:lw:t1", "t"));
    ops.push_back(set_op(hot, "t"));
    auto err = s.transact(ops, wall_ms());
    REQUIRE(err);
    CHECK(code_of(err) == state_errc::backend_unavailable);
    CHECK(s.set(set_request{"state:lw:t2", "v", 0, {}}, 0, wall_ms()));
  }
  auto now = wall_ms();
  CHECK(s.get(hot, now)->value == "seed");
  CHECK(code_of(s.get("state:lw:t1", now).error()) == state_errc::not_found);
}

namespace {

/// Fills `table` (made here as the store makes it) with `rows` keys,
/// straight on the server: a table large enough that counting it outlasts
/// a short statement timeout.
void fill_large_table(const postgres_server& server, const std::string& table,
                      int64_t rows) {
  // The primary key is added after the rows (one sorted build), and no
  // trigger is there yet: the store adds them.
  REQUIRE(server.sql("DROP TABLE IF EXISTS " + table + ", " + table
                     + "_items CASCADE; CREATE TABLE " + table
                     + " (key bytea NOT NULL, value bytea NOT NULL, "
                       "version bigint NOT NULL, expires_at bigint NOT NULL "
                       "DEFAULT 0); INSERT INTO " + table
                     + " SELECT int8send(g), '\\x'::bytea, g, 0 FROM "
                       "generate_series(1, " + std::to_string(rows)
                     + ") g; ALTER TABLE " + table
                     + " ADD PRIMARY KEY (key); ANALYZE " + table)
          == 0);
}

} // namespace

// The count row of max_items (INSERT ... SELECT count(*)) ran under the
// session's statement timeout: on a large table it was cancelled (57014),
// which the schema check took for a lock held by another transaction, and
// every connection served without the counting triggers: max_items was not
// enforced at all. Found by review.
TEST_CASE("postgresql: max_items on a table whose count outlasts the "
          "statement timeout is counted and enforced") {
  auto& server = shared_postgres();
  const int64_t rows = 3'000'000;
  fill_large_table(server, "lock_count", rows);
  // Counting must take longer than the statement timeout, or this test
  // proves nothing.
  {
    auto opts = direct_options(server);
    postgres_connection probe{opts, nullptr};
    auto start = steady::now();
    REQUIRE(probe.exec("SELECT count(*) FROM lock_count"));
    INFO("count(*) took " << since(start).count() << " ms");
    REQUIRE(since(start) > 80ms); // the statement timeout below: 48 ms
  }
  auto url = server.url() + "?table=lock_count&timeout_ms=60";
  auto stores = open_stores(url, 1, static_cast<size_t>(rows) + 1);
  auto& s = *stores[0];
  CHECK(scalar(server, "SELECT n FROM lock_count_items")
        == std::to_string(rows));
  CHECK(s.set(set_request{"state:lw:c1", "v", 0, {}}, 0, wall_ms()));
  auto past = s.set(set_request{"state:lw:c2", "v", 0, {}}, 0, wall_ms());
  REQUIRE_FALSE(past);
  CHECK(code_of(past.error()) == state_errc::capacity_exceeded);
  REQUIRE(server.sql("DROP TABLE lock_count, lock_count_items CASCADE") == 0);
}

// With max_items, a connection that cannot lock the table for the
// counting triggers does not serve without them (the limit would not hold):
// it fails with the reason, and a later one adds them. Found by review.
TEST_CASE("postgresql: with max_items, a connection that cannot add the "
          "counting triggers fails, and the next one adds them") {
  auto& server = shared_postgres();
  auto url = server.url() + "?table=lock_limit&timeout_ms=1000";
  {
    auto first = open_stores(url);
    REQUIRE(first[0]->set(set_request{hot, "seed", 0, {}}, 0, wall_ms()));
  }
  REQUIRE(server.sql("DROP TABLE IF EXISTS lock_limit_items") == 0);
  auto items_there = [&] {
    return scalar(server, "SELECT to_regclass('lock_limit_items') IS NOT NULL")
           == "t";
  };
  row_lock_holder holder{server, "lock_limit", hot};
  auto stores = open_stores(url, 1, 2);
  auto& s = *stores[0];
  {
    auto refused = s.set(set_request{"state:lw:l1", "v", 0, {}}, 0,
                         wall_ms());
    REQUIRE_FALSE(refused);
    CHECK(code_of(refused.error()) == state_errc::backend_unavailable);
    CHECK_THAT(message_of(refused.error()), Catch::Contains("max_items"));
    CHECK_FALSE(items_there());
    holder.release();
  }
  CHECK(time_to_write(s, "state:lw:l1", 5s) < 5s);
  CHECK(items_there());
  auto past = s.set(set_request{"state:lw:l2", "v", 0, {}}, 0, wall_ms());
  REQUIRE_FALSE(past);
  CHECK(code_of(past.error()) == state_errc::capacity_exceeded);
}
