// PostgreSQL transactions (BEGIN .. COMMIT under key locks) seen from other
// connections: racing single-key writers, readers that must never see half
// a transaction, a full store, and the backend terminated mid-transaction.

#include <catch2/catch.hpp>

#include "tests/support/postgres_server.hpp"
#include "tests/support/shared_transaction_checks.hpp"

using namespace solver_state;
using namespace solver_state::testing;

TEST_CASE("postgresql: transfers by transaction lose no concurrent deposit") {
  auto& server = shared_postgres();
  server.truncate();
  auto bank = open_stores(server.url());
  auto teller = open_stores(server.url());
  check_transfers_race_deposits(*bank[0], *teller[0]);
}

TEST_CASE("postgresql: another connection never reads half a transaction") {
  auto& server = shared_postgres();
  server.truncate();
  auto writer = open_stores(server.url());
  auto reader = open_stores(server.url());
  check_no_torn_reads(*writer[0], *reader[0]);
}

TEST_CASE("postgresql: a connection terminated mid-transaction leaves all or "
          "none") {
  auto& server = shared_postgres();
  server.truncate();
  check_killed_connection_all_or_none(
    [&] { return open_stores(server.url()); },
    [&] {
      server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE backend_type = 'client backend' "
                 "AND pid <> pg_backend_pid()");
    });
}

// Last: a store with max_items installs the counting triggers on the table.
TEST_CASE("postgresql: a transaction past max_items applies nothing") {
  auto& server = shared_postgres();
  server.truncate();
  auto full = open_stores(server.url(), 1, 2);
  check_capacity_applies_nothing(*full[0]);
}
