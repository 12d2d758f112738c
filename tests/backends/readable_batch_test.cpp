// read_readable and read_readable_within: batch reads that one unreadable
// value does not fail, and that hold a bounded number of value bytes.

#include <catch2/catch.hpp>

#include "backends/readable_batch.hpp"
#include "tests/support/damaged_store.hpp"

using namespace solver_state;
using namespace solver_state::testing;

TEST_CASE("read_readable reads a failed batch key by key") {
  damaged_store store{5};
  std::vector<std::string> keys{"q:1000", "q:1001", "gone", "q:1004"};
  store.damaged = {"q:1001"};
  auto read = read_readable(store, keys, 1);
  REQUIRE(read);
  REQUIRE(read->entries.size() == 4);
  CHECK(read->unreadable == std::vector<size_t>{1});
  CHECK_THAT(message_of(read->first_problem), Catch::Contains("q:1001"));
  CHECK(read->entries[0].version != 0);
  CHECK(read->entries[1].version == 0);
  CHECK(read->entries[2].version == 0);
  CHECK(read->entries[3].version != 0);
  store.down = true;
  auto failed = read_readable(store, keys, 1);
  REQUIRE_FALSE(failed);
  CHECK(code_of(failed.error()) == state_errc::backend_unavailable);
  // A backend_error of the backend itself is no value's: the read fails
  // (it does not come back as every key unreadable).
  store.down = false;
  store.refusing = true;
  auto refused = read_readable(store, keys, 1);
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(refused.error()), Catch::Contains("permission"));
}

TEST_CASE("read_readable_within reads batches that grow at most fourfold, "
          "sized by the largest value seen, up to its byte budget") {
  damaged_store store;
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) {
    keys.push_back("big:" + std::to_string(i));
    store.put(keys.back(), std::string(300 << 10, 'x'));
  }
  constexpr size_t budget = 1 << 20;
  auto read = read_readable_within(store, keys, 1, budget);
  REQUIRE(read);
  // One key (300 KiB), then two (900 KiB), then one more: past the budget.
  CHECK(read->entries.size() == 4);
  CHECK(store.batch_reads == 3);
  size_t bytes = 0;
  for (auto& e : read->entries) {
    CHECK(e.version != 0);
    bytes += e.value.size();
  }
  CHECK(bytes < budget + (300 << 10));
  // Small values: batches of 1, 4, 16, 64, then the rest.
  damaged_store small{200};
  std::vector<std::string> all;
  for (int i = 0; i < 200; ++i)
    all.push_back("q:" + std::to_string(1000 + i));
  auto whole = read_readable_within(small, all, 1, budget);
  REQUIRE(whole);
  CHECK(whole->entries.size() == 200);
  CHECK(small.batch_reads == 5);
  // Small values, then large ones: the batch after the small ones holds
  // four keys, not all that fit at the small size.
  damaged_store mixed{1};
  std::vector<std::string> then_large{"q:1000"};
  for (int i = 0; i < 50; ++i) {
    then_large.push_back("r:" + std::to_string(100 + i));
    mixed.put(then_large.back(), std::string(1 << 20, 'z'));
  }
  auto bounded = read_readable_within(mixed, then_large, 1, budget);
  REQUIRE(bounded);
  CHECK(bounded->entries.size() == 5);
  // A value over the budget is read, alone.
  store.put("huge", std::string(2 << 20, 'y'));
  auto one = read_readable_within(store, {"huge", keys[0]}, 1, budget);
  REQUIRE(one);
  CHECK(one->entries.size() == 1);
  // Unreadable values keep their positions across batches.
  small.damaged = {"q:1000", "q:1150"};
  auto past = read_readable_within(small, all, 1, budget);
  REQUIRE(past);
  CHECK(past->entries.size() == 200);
  CHECK(past->unreadable == std::vector<size_t>{0, 150});
}

TEST_CASE("read_readable_within sizes its first batch by what the walk's "
          "previous call met") {
  constexpr size_t budget = 1 << 20;
  damaged_store small{600};
  std::vector<std::string> all;
  for (int i = 0; i < 600; ++i)
    all.push_back("q:" + std::to_string(1000 + i));
  std::vector<std::string> first(all.begin(), all.begin() + 300);
  std::vector<std::string> second(all.begin() + 300, all.end());
  size_t largest = 0;
  auto a = read_readable_within(small, first, 1, budget, 0, &largest);
  REQUIRE(a);
  CHECK(a->entries.size() == 300);
  CHECK(small.batch_reads == 5); // 1, 4, 16, 64, 215: nothing known yet
  REQUIRE(largest > 0);
  CHECK(largest < 100);
  small.batch_reads = 0;
  auto b = read_readable_within(small, second, 1, budget, 0, &largest);
  REQUIRE(b);
  CHECK(b->entries.size() == 300);
  // 64 keys at once (the most a hint sizes), then 4 x 64: the rest.
  CHECK(small.batch_reads == 2);
  // Values larger than the last call's: the first batch is as large as the
  // hint says, and the ones after it are sized by what it met.
  damaged_store grown;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) {
    keys.push_back("big:" + std::to_string(100 + i));
    grown.put(keys.back(), std::string(100 << 10, 'x'));
  }
  size_t hint = 50 << 10; // 20 keys fit at 50 KiB
  auto c = read_readable_within(grown, keys, 1, budget, 0, &hint);
  REQUIRE(c);
  CHECK(grown.batch_reads == 1);
  CHECK(c->entries.size() == 20); // 2 MiB: the budget is passed by one batch
  CHECK(hint == (100 << 10));
  // A call that meets only absent keys leaves the hint as it was.
  auto d = read_readable_within(grown, {"none:1", "none:2"}, 1, budget, 0,
                                &hint);
  REQUIRE(d);
  CHECK(hint == (100 << 10));
}
