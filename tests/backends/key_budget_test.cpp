// The key budget the shards of a store share (backends/key_budget.hpp).

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "backends/key_budget.hpp"

using namespace solver_state;

TEST_CASE("key budget: takes up to the limit, then refuses") {
  key_budget budget{2};
  CHECK(budget.try_take());
  CHECK(budget.try_take());
  CHECK_FALSE(budget.try_take());
  CHECK(budget.used() == 2);
  budget.give_back();
  CHECK(budget.try_take());
}

TEST_CASE("key budget: 0 means unlimited") {
  key_budget budget{0};
  for (int i = 0; i < 1000; ++i)
    REQUIRE(budget.try_take());
  CHECK(budget.used() == 1000);
}

// Refused attempts on a full budget must never count, not even for a moment:
// with add-then-undo each refusal briefly pushed the counter past the limit,
// so a shard taking a key that a third shard had just freed was refused while
// the store had room, and state_keys_total could read above max_items.
TEST_CASE("key budget: refused attempts never push the count past the limit") {
  constexpr size_t limit = 4;
  key_budget budget{limit};
  for (size_t i = 0; i < limit; ++i)
    REQUIRE(budget.try_take());
  std::atomic<bool> stop{false};
  std::atomic<size_t> wrongly_taken{0};
  std::vector<std::thread> probers;
  for (int t = 0; t < 2; ++t)
    probers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed))
        if (budget.try_take())
          ++wrongly_taken;
    });
  size_t over_limit = 0;
  for (int i = 0; i < 2'000'000 && over_limit == 0; ++i)
    if (budget.used() > limit)
      ++over_limit;
  stop = true;
  for (auto& t : probers)
    t.join();
  CHECK(wrongly_taken == 0);
  CHECK(over_limit == 0);
  CHECK(budget.used() == limit);
}
