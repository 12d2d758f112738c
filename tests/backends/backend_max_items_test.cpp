// state.max_items on the network backends: Redis and PostgreSQL enforce it
// with reject semantics across every shard (and every client of the same
// data), DynamoDB refuses a limit at start-up; eviction: lru is refused.

#include <atomic>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "backends/compiled_plugins.hpp"
#include "actors/store.hpp"
#include "messages/protocol.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/running_store.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/redis_server.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

state_errc put(state_store& s, const std::string& key, unix_ms now,
               unix_ms expires_at = 0) {
  auto v = s.set(set_request{key, "v", 0, condition::always()}, expires_at,
                 now);
  return v ? state_errc::none : code_of(v.error());
}

/// Three keys allowed, written through two shards' stores.
void check_limit_across_shards(store_list& stores) {
  REQUIRE(stores.size() == 2);
  auto& s0 = *stores[0];
  auto& s1 = *stores[1];
  auto now = wall_ms();
  CHECK(put(s0, "state:cap:a", now) == state_errc::none);
  CHECK(put(s1, "state:cap:b", now) == state_errc::none);
  CHECK(put(s0, "state:cap:c", now) == state_errc::none);
  CHECK(put(s1, "state:cap:d", now) == state_errc::capacity_exceeded);
  CHECK_FALSE(s1.get("state:cap:d", now));
  // Overwriting an existing key needs no room.
  CHECK(put(s0, "state:cap:a", now) == state_errc::none);
  CHECK(put(s1, "state:cap:b", now) == state_errc::none);
  // A delete makes room.
  REQUIRE(s1.erase(delete_request{"state:cap:b", {}}, now));
  CHECK(put(s1, "state:cap:d", now) == state_errc::none);
  CHECK(put(s0, "state:cap:e", now) == state_errc::capacity_exceeded);
  // In a pipelined batch: the new key is refused, the others are applied.
  std::vector<pending_op> ops;
  ops.push_back(set_op("state:cap:f", "v"));
  ops.push_back(set_op("state:cap:a", "again"));
  ops.push_back(get_op("state:cap:a"));
  s0.apply(ops, now);
  CHECK(code(ops[0]) == state_errc::capacity_exceeded);
  CHECK(code(ops[1]) == state_errc::none);
  REQUIRE(ops[2].got);
  CHECK(ops[2].got->value == "again");
}

/// Two stores race to create 2 x 40 distinct keys under a limit of 30:
/// exactly 30 get in.
void check_concurrent_creators(store_list& stores) {
  REQUIRE(stores.size() == 2);
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  auto worker = [&](state_store& s, int who) {
    auto now = wall_ms();
    for (int i = 0; i < 40; ++i) {
      auto rc = put(s, "state:race:" + std::to_string(who) + ":"
                         + std::to_string(i),
                    now);
      if (rc == state_errc::none)
        ++admitted;
      else if (rc == state_errc::capacity_exceeded)
        ++refused;
    }
  };
  std::thread a{worker, std::ref(*stores[0]), 0};
  std::thread b{worker, std::ref(*stores[1]), 1};
  a.join();
  b.join();
  CHECK(admitted == 30);
  CHECK(refused == 50);
}

void check_lru_refused(const std::string& type) {
  state_config cfg;
  cfg.type = type;
  cfg.max_items = 10;
  cfg.eviction = eviction_policy::lru;
  auto stores = compiled_plugins().find(type)->create_stores(cfg);
  REQUIRE_FALSE(stores);
  CHECK_THAT(message_of(stores.error()), Catch::Contains("lru"));
}

} // namespace

TEST_CASE("redis enforces max_items across shards") {
  auto& server = shared_redis();
  server.flush();
  SECTION("reject beyond the limit") {
    auto stores = open_stores(server.url("cap:"), 2, 3);
    check_limit_across_shards(stores);
  }
  SECTION("an expired key frees its room at once") {
    auto stores = open_stores(server.url("capttl:"), 1, 2);
    auto& s = *stores[0];
    auto now = wall_ms();
    CHECK(put(s, "state:t:a", now) == state_errc::none);
    CHECK(put(s, "state:t:ttl", now, now + 10) == state_errc::none);
    CHECK(put(s, "state:t:b", now) == state_errc::capacity_exceeded);
    CHECK(put(s, "state:t:b", now + 20) == state_errc::none);
    CHECK(put(s, "state:t:c", now + 20) == state_errc::capacity_exceeded);
    // Writing the expired key again takes room again.
    CHECK(put(s, "state:t:ttl", now + 20) == state_errc::capacity_exceeded);
  }
  SECTION("concurrent creators never overshoot") {
    auto stores = open_stores(server.url("caprace:"), 2, 30);
    check_concurrent_creators(stores);
  }
  SECTION("lru is refused") {
    check_lru_refused(server.url("lru:"));
  }
}

TEST_CASE("postgresql enforces max_items across shards") {
  auto& server = shared_postgres();
  SECTION("reject beyond the limit") {
    server.truncate("cap");
    auto stores = open_stores(server.url() + "?table=cap", 2, 3);
    check_limit_across_shards(stores);
  }
  SECTION("an expired key holds its room until the sweep") {
    server.truncate("capttl");
    auto stores = open_stores(server.url() + "?table=capttl", 1, 2);
    auto& s = *stores[0];
    auto now = wall_ms();
    CHECK(put(s, "state:t:a", now) == state_errc::none);
    CHECK(put(s, "state:t:ttl", now, now + 10) == state_errc::none);
    CHECK(put(s, "state:t:b", now + 20) == state_errc::capacity_exceeded);
    // Rewriting the expired key reuses its row.
    CHECK(put(s, "state:t:ttl", now + 20, now + 30) == state_errc::none);
    s.sweep(now + 40);
    CHECK(put(s, "state:t:b", now + 40) == state_errc::none);
    CHECK(put(s, "state:t:c", now + 40) == state_errc::capacity_exceeded);
    // The trigger's words, not the server's CONTEXT lines naming the
    // PL/pgSQL function that raised them.
    auto refused = s.set(set_request{"state:t:d", "v", 0, {}}, 0, now + 40);
    REQUIRE_FALSE(refused);
    INFO(message_of(refused.error()));
    CHECK(message_of(refused.error()).find("CONTEXT") == std::string::npos);
    CHECK(message_of(refused.error()).find('\n') == std::string::npos);
  }
  SECTION("the count survives a restart of the store and a truncate") {
    server.truncate("capkeep");
    {
      auto stores = open_stores(server.url() + "?table=capkeep", 1, 2);
      CHECK(put(*stores[0], "state:k:a", wall_ms()) == state_errc::none);
      CHECK(put(*stores[0], "state:k:b", wall_ms()) == state_errc::none);
    }
    auto stores = open_stores(server.url() + "?table=capkeep", 1, 2);
    CHECK(put(*stores[0], "state:k:c", wall_ms())
          == state_errc::capacity_exceeded);
    server.truncate("capkeep");
    CHECK(put(*stores[0], "state:k:c", wall_ms()) == state_errc::none);
  }
  SECTION("concurrent creators never overshoot") {
    server.truncate("caprace");
    auto stores = open_stores(server.url() + "?table=caprace", 2, 30);
    check_concurrent_creators(stores);
  }
  SECTION("lru is refused") {
    check_lru_refused(server.url() + "?table=lru");
  }
}

TEST_CASE("max_items through the shards' pipelined path") {
  auto& server = shared_redis();
  server.flush();
  running_store store{server.url("capactors:"), 4, 5};
  {
    caf::scoped_actor self{*store.sys};
    auto& router = store.handles.router;
    std::vector<decltype(self->request(router, 10s, put_atom_v,
                                       set_request{}))> writes;
    for (int i = 0; i < 20; ++i)
      writes.push_back(self->request(
        router, 10s, put_atom_v,
        set_request{"state:a:" + std::to_string(i), "v", 0, {}}));
    int ok = 0;
    int full = 0;
    for (auto& w : writes)
      w.receive([&](const write_result&) { ++ok; },
                [&](caf::error& err) {
                  CHECK(code_of(err) == state_errc::capacity_exceeded);
                  ++full;
                });
    CHECK(ok == 5);
    CHECK(full == 15);
  }
}

TEST_CASE("dynamodb refuses max_items at start-up") {
  state_config cfg;
  cfg.type = "dynamodb://127.0.0.1:1/table?region=us-east-1";
  cfg.max_items = 100;
  auto stores = compiled_plugins().find(cfg.type)->create_stores(cfg);
  REQUIRE_FALSE(stores);
  CHECK_THAT(message_of(stores.error()), Catch::Contains("max_items: 0"));
}
