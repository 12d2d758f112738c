// Memory backend details the conformance suite does not cover: the key
// budget, LRU order and size accounting.

#include <catch2/catch.hpp>

#include "backends/memory/store.hpp"

using namespace solver_state;

namespace {

set_request put(std::string key, std::string value) {
  return set_request{std::move(key), std::move(value), 0, {}};
}

} // namespace

TEST_CASE("two shards share one key budget") {
  auto budget = std::make_shared<key_budget>(3);
  memory_store a{budget, eviction_policy::reject, 0};
  memory_store b{budget, eviction_policy::reject, 0};
  REQUIRE(a.set(put("k1", "v"), 0, 0));
  REQUIRE(b.set(put("k2", "v"), 0, 0));
  REQUIRE(a.set(put("k3", "v"), 0, 0));
  auto full = b.set(put("k4", "v"), 0, 0);
  REQUIRE_FALSE(full);
  CHECK(code_of(full.error()) == state_errc::capacity_exceeded);
  CHECK(budget->used() == 3);
  REQUIRE(a.erase(delete_request{"k1", {}}, 0));
  CHECK(budget->used() == 2);
  CHECK(b.set(put("k4", "v"), 0, 0));
}

TEST_CASE("expired keys give their budget back when swept") {
  auto budget = std::make_shared<key_budget>(2);
  memory_store s{budget, eviction_policy::reject, 0};
  REQUIRE(s.set(put("a", "v"), 100, 0));
  REQUIRE(s.set(put("b", "v"), 0, 0));
  CHECK(s.sweep(100) == 1);
  CHECK(budget->used() == 1);
  CHECK(s.set(put("c", "v"), 0, 200));
}

// A full store went straight to its LRU victim (or to capacity_exceeded)
// while keys past their expiry, not swept yet (sweep_interval), still held
// the budget: a live key was evicted, or a write refused, for keys no
// reader could see any more (found by review).
TEST_CASE("a new key in a full store first reclaims a key past its expiry "
          "that the sweep has not dropped yet") {
  using keys = std::vector<std::string>;
  auto budget = std::make_shared<key_budget>(3);
  SECTION("lru: no live key is evicted for it") {
    memory_store s{budget, eviction_policy::lru, 0};
    REQUIRE(s.set(put("keep", "v"), 0, 0));
    REQUIRE(s.set(put("t1", "v"), 1000, 0));
    REQUIRE(s.set(put("t2", "v"), 1000, 0));
    REQUIRE(s.set(put("fresh", "v"), 0, 1500));
    CHECK(s.get("keep", 1500));
    CHECK(s.get("fresh", 1500));
    // It expired: the write that reclaimed it owes its expire event.
    CHECK(s.take_expired_by_writes() == keys{"t1"});
    REQUIRE(s.set(put("fresh2", "v"), 0, 1500));
    CHECK(s.take_expired_by_writes() == keys{"t2"});
    CHECK(s.get("keep", 1500));
    CHECK(s.size() == 3);
    // None left past its expiry: now the least recently used live key is
    // evicted (no event).
    REQUIRE(s.set(put("fresh3", "v"), 0, 1500));
    CHECK_FALSE(s.get("fresh", 1500));
    CHECK(s.take_expired_by_writes().empty());
    CHECK(budget->used() == 3);
  }
  SECTION("reject: the write is not refused for it") {
    memory_store s{budget, eviction_policy::reject, 0};
    for (auto key : {"a", "b", "c"})
      REQUIRE(s.set(put(key, "v"), 1000, 0));
    CHECK(s.list(list_request{"", "", 0}, 1500)->keys.empty());
    REQUIRE(s.set(put("fresh", "v"), 0, 1500));
    CHECK(s.take_expired_by_writes() == keys{"a"});
    REQUIRE(s.set(put("fresh2", "v"), 0, 1500));
    REQUIRE(s.set(put("fresh3", "v"), 0, 1500));
    CHECK(s.take_expired_by_writes() == keys{"b", "c"});
    auto full = s.set(put("fresh4", "v"), 0, 1500);
    REQUIRE_FALSE(full);
    CHECK(code_of(full.error()) == state_errc::capacity_exceeded);
    CHECK(budget->used() == 3);
  }
}

TEST_CASE("a transaction that deletes a key reclaims keys past their expiry "
          "only for the keys it adds net") {
  using keys = std::vector<std::string>;
  auto budget = std::make_shared<key_budget>(3);
  memory_store s{budget, eviction_policy::reject, 0};
  REQUIRE(s.set(put("keep", "v"), 0, 0));
  REQUIRE(s.set(put("t1", "v"), 1000, 0));
  REQUIRE(s.set(put("t2", "v"), 1000, 0));
  // Deleting "keep" frees one key for the three it creates: the two past
  // their expiry give the others.
  std::vector<pending_op> ops(4);
  for (size_t i = 0; i < 3; ++i) {
    ops[i].kind = pending_op::set;
    ops[i].write = put("n" + std::to_string(i + 1), "v");
  }
  ops[3].kind = pending_op::erase;
  ops[3].removal = delete_request{"keep", condition::always()};
  auto err = s.transact(ops, 1500);
  INFO(message_of(err));
  REQUIRE_FALSE(err);
  CHECK(s.take_expired_by_writes() == keys{"t1", "t2"});
  CHECK(s.list(list_request{"", "", 0}, 1500)->keys
        == keys{"n1", "n2", "n3"});
  CHECK(budget->used() == 3);
  // Full of live keys: one more is refused, and the count stays exact.
  auto full = s.set(put("n4", "v"), 0, 1500);
  REQUIRE_FALSE(full);
  CHECK(code_of(full.error()) == state_errc::capacity_exceeded);
  CHECK(budget->used() == 3);
}

TEST_CASE("a transaction's new key does not reclaim one the transaction "
          "wrote past its expiry") {
  // Its expire event would come before the put the transaction answers:
  // the sweep tells it after.
  auto budget = std::make_shared<key_budget>(2);
  memory_store s{budget, eviction_policy::lru, 0};
  REQUIRE(s.set(put("other", "v"), 0, 0));
  std::vector<pending_op> ops(2);
  ops[0].kind = pending_op::set;
  ops[0].write = put("past", "v");
  ops[0].expires_at = 1000; // an imported expiry, already past
  ops[1].kind = pending_op::set;
  ops[1].write = put("new", "v");
  REQUIRE_FALSE(s.transact(ops, 1500));
  CHECK(s.take_expired_by_writes().empty());
  CHECK(s.get("new", 1500));
  std::vector<std::string> expired;
  CHECK(s.sweep(1500, &expired) == 1);
  CHECK(expired == std::vector<std::string>{"past"});
}

TEST_CASE("lru evicts the least recently read or written key") {
  auto budget = std::make_shared<key_budget>(3);
  memory_store s{budget, eviction_policy::lru, 0};
  REQUIRE(s.set(put("a", "v"), 0, 0));
  REQUIRE(s.set(put("b", "v"), 0, 0));
  REQUIRE(s.set(put("c", "v"), 0, 0));
  REQUIRE(s.get("a", 0));          // a is now the most recent
  REQUIRE(s.set(put("b", "w"), 0, 0)); // b too; c is the oldest
  REQUIRE(s.set(put("d", "v"), 0, 0));
  CHECK(s.get("a", 0));
  CHECK(s.get("b", 0));
  CHECK_FALSE(s.get("c", 0));
  CHECK(s.get("d", 0));
  CHECK(budget->used() == 3);
}

// An eviction was no event and named no key: the shard's indexes kept
// every evicted key (found by review).
TEST_CASE("lru names the keys it evicts, for the indexes to forget") {
  using keys = std::vector<std::string>;
  auto budget = std::make_shared<key_budget>(2);
  memory_store s{budget, eviction_policy::lru, 0};
  REQUIRE(s.set(put("a", "v"), 0, 0));
  REQUIRE(s.set(put("b", "v"), 0, 0));
  CHECK(s.take_evicted().empty());
  REQUIRE(s.set(put("c", "v"), 0, 0));
  REQUIRE(s.set(put("d", "v"), 0, 0));
  CHECK(s.take_evicted() == keys{"a", "b"});
  CHECK(s.take_evicted().empty());
  CHECK(s.take_expired_by_writes().empty());
}

TEST_CASE("under lru a transaction's new keys never evict one another") {
  // A full store whose keys are mostly on another shard: this shard has one
  // key of its own to evict, and the transaction creates three.
  auto budget = std::make_shared<key_budget>(4);
  memory_store other{budget, eviction_policy::lru, 0};
  memory_store s{budget, eviction_policy::lru, 0};
  for (auto key : {"o1", "o2", "o3"})
    REQUIRE(other.set(put(key, "v"), 0, 0));
  REQUIRE(s.set(put("old", "v"), 0, 0));
  std::vector<pending_op> ops(3);
  for (size_t i = 0; i < ops.size(); ++i) {
    ops[i].kind = pending_op::set;
    ops[i].write = put("t" + std::to_string(i), "v");
  }
  REQUIRE_FALSE(s.transact(ops, 0));
  for (auto& op : ops) {
    REQUIRE(op.written);
    CHECK(s.get(op.write.key, 0));
  }
  CHECK_FALSE(s.get("old", 0));
  // Past max_items by the transaction's keys this shard could not evict;
  // the next new key of this shard evicts again.
  CHECK(budget->used() == 6);
  REQUIRE(s.set(put("later", "v"), 0, 0));
  CHECK(budget->used() == 6);
  CHECK_FALSE(s.get("t0", 0));
}

TEST_CASE("stats count keys and bytes") {
  memory_store s{std::make_shared<key_budget>(0), eviction_policy::reject, 0};
  REQUIRE(s.set(put("ab", "1234"), 0, 0));
  REQUIRE(s.set(put("c", "1"), 0, 0));
  CHECK(s.stats().keys == 2);
  CHECK(s.stats().bytes == 2 + 4 + 1 + 1);
  REQUIRE(s.set(put("ab", "12"), 0, 0));
  CHECK(s.stats().bytes == 2 + 2 + 1 + 1);
  REQUIRE(s.erase(delete_request{"c", {}}, 0));
  CHECK(s.stats().bytes == 4);
}

TEST_CASE("versions start after the seed and increase") {
  memory_store s{std::make_shared<key_budget>(0), eviction_policy::reject,
                 1000};
  auto v1 = s.set(put("a", "v"), 0, 0);
  auto v2 = s.set(put("b", "v"), 0, 0);
  CHECK(v1->version == 1001);
  CHECK(v2->version == 1002);
}
