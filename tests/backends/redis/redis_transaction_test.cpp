// Redis transactions (one Lua script) seen from other connections: racing
// single-key writers, readers that must never see half a transaction, a
// full store, and the connection killed mid-transaction.

#include <catch2/catch.hpp>

#include "tests/support/redis_server.hpp"
#include "tests/support/shared_transaction_checks.hpp"

using namespace solver_state;
using namespace solver_state::testing;

TEST_CASE("redis: transfers by transaction lose no concurrent deposit") {
  auto& server = shared_redis();
  server.flush();
  auto bank = open_stores(server.url("txn:"));
  auto teller = open_stores(server.url("txn:"));
  check_transfers_race_deposits(*bank[0], *teller[0]);
}

TEST_CASE("redis: another connection never reads half a transaction") {
  auto& server = shared_redis();
  server.flush();
  auto writer = open_stores(server.url("txn:"));
  auto reader = open_stores(server.url("txn:"));
  check_no_torn_reads(*writer[0], *reader[0]);
}

TEST_CASE("redis: a transaction past max_items applies nothing") {
  auto& server = shared_redis();
  server.flush();
  auto full = open_stores(server.url("txn:"), 1, 2);
  check_capacity_applies_nothing(*full[0]);
}

TEST_CASE("redis: a connection killed mid-transaction leaves all or none") {
  auto& server = shared_redis();
  server.flush();
  check_killed_connection_all_or_none(
    [&] { return open_stores(server.url("txn:")); },
    [&] { server.cli({"CLIENT", "KILL", "TYPE", "normal"}); });
}
