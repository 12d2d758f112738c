// What the PostgreSQL store does beyond the shared conformance suite and
// pipelining: a sweep bounded as every backend's, writes under read
// committed whatever the server's default.

#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/pipeline_support.hpp"
#include "tests/support/postgres_server.hpp"

using namespace solver_state;
using namespace solver_state::testing;

// One unbounded DELETE of every expired row (a million keys written with
// one TTL) outlived the statement timeout, held a million row locks and
// sent a million notifications in one transaction.
TEST_CASE("postgresql: a sweep drops at most max_sweep_keys, the next ones "
          "drop the rest") {
  auto& server = shared_postgres();
  auto stores = open_stores(server.url() + "?table=sweep_bound");
  auto& s = *stores[0];
  server.truncate("sweep_bound");
  const size_t bound = state_store::max_sweep_keys;
  const size_t expired = bound + 500;
  auto now = wall_ms();
  REQUIRE(server.sql("INSERT INTO sweep_bound (key, value, version, "
                     "expires_at) SELECT convert_to('state:sw:' || i, "
                     "'UTF8'), '\\x78', i, " + std::to_string(now - 1000)
                     + " FROM generate_series(1, " + std::to_string(expired)
                     + ") AS i")
          == 0);
  REQUIRE(s.set(set_request{"state:sw:kept", "k", 0, {}}, now + 60'000, now));
  REQUIRE(s.set(set_request{"state:sw:forever", "f", 0, {}}, 0, now));
  CHECK(s.sweep(now) == bound); // the shard sweeps again soon
  CHECK(s.sweep(now) == expired - bound);
  CHECK(s.sweep(now) == 0);
  CHECK(s.get("state:sw:kept", now)->value == "k");
  CHECK(s.get("state:sw:forever", now)->value == "f");
  auto page = s.list(list_request{"state:sw:", {}, 0}, now - 2000);
  REQUIRE(page);
  CHECK(page->keys
        == std::vector<std::string>{"state:sw:forever", "state:sw:kept"});
}

// A server (or a database) whose default isolation is repeatable read or
// serializable, as some managed services set it: a write that waited for a
// concurrent writer of its row failed with a serialization error (500)
// instead of applying after it, as it does under read committed.
TEST_CASE("postgresql: a write waits for a concurrent writer of its row, "
          "whatever the server's default isolation") {
  auto& server = shared_postgres();
  REQUIRE(server.sql("ALTER DATABASE postgres SET "
                     "default_transaction_isolation TO 'repeatable read'")
          == 0);
  struct reset_isolation {
    const postgres_server& server;
    ~reset_isolation() {
      server.sql("ALTER DATABASE postgres RESET default_transaction_isolation");
    }
  } reset{server};
  auto stores = open_stores(server.url() + "?table=isolation_pin");
  auto& s = *stores[0];
  server.truncate("isolation_pin");
  auto now = wall_ms();
  REQUIRE(s.set(set_request{"state:iso:k", "first", 0, {}}, 0, now));
  // Another client updates the row and holds its lock for a moment.
  std::thread other([&] {
    server.sql("BEGIN; UPDATE isolation_pin SET value = '\\x6f74686572', "
               "version = version + 1 WHERE key = convert_to('state:iso:k', "
               "'UTF8'); SELECT pg_sleep(1); COMMIT;");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto written = s.set(set_request{"state:iso:k", "ours", 0, {}}, 0, now);
  other.join();
  REQUIRE(written);
  auto got = s.get("state:iso:k", now);
  REQUIRE(got);
  CHECK(got->value == "ours");
}
