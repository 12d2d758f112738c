// Transaction preconditions and putting back (backends/transaction_check):
// a value that cannot be read fails only an op that asks something of it.

#include <catch2/catch.hpp>

#include "backends/transaction_check.hpp"
#include "tests/support/damaged_store.hpp"
#include "tests/support/pipeline_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;

// A damaged value (or one sealed under a key not configured) failed every
// transaction naming its key, although a single write replaces it.
TEST_CASE("an unreadable value fails only the transaction ops with a "
          "condition on it") {
  damaged_store s;
  s.put("k", "old");
  s.put("gone", "old");
  s.damaged = {"k", "gone"};

  for (auto cond : {condition::matches(1), condition::absent()}) {
    std::vector<pending_op> conditional{set_op("k", "new", cond)};
    auto refused = check_transaction(s, conditional, 1);
    REQUIRE_FALSE(refused);
    CHECK(is_value_error(refused.error()));
  }

  std::vector<pending_op> ops{set_op("k", "new"), erase_op("gone"),
                              set_op("fresh", "f")};
  auto prior = check_transaction(s, ops, 1);
  REQUIRE(prior);
  REQUIRE(prior->size() == 3);
  CHECK((*prior)[0].unreadable);
  CHECK((*prior)[0].before.found()); // there, so not created by the set
  CHECK((*prior)[1].unreadable);
  CHECK_FALSE((*prior)[2].unreadable);
  CHECK_FALSE((*prior)[2].before.found());

  REQUIRE_FALSE(s.transact(ops, 1));
  s.damaged.clear();
  CHECK(s.get("k", 1)->value == "new");
  CHECK_FALSE(s.get("gone", 1));
  CHECK(s.get("fresh", 1)->value == "f");
}

TEST_CASE("a backend that cannot be read fails the transaction, condition "
          "or not") {
  damaged_store s;
  s.put("k", "old");
  s.down = true;
  std::vector<pending_op> ops{set_op("k", "new")};
  auto refused = check_transaction(s, ops, 1);
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::backend_unavailable);
}

TEST_CASE("putting back an unreadable prior entry is a partly applied "
          "transaction naming the key, and the others are put back") {
  damaged_store s;
  s.put("k", "old");
  s.put("other", "other old");
  s.damaged = {"k"};
  std::vector<pending_op> ops{set_op("k", "new"), set_op("other", "x")};
  auto prior = check_transaction(s, ops, 1);
  REQUIRE(prior);
  REQUIRE(s.set(set_request{"k", "new", 0, {}}, 0, 1));
  REQUIRE(s.set(set_request{"other", "x", 0, {}}, 0, 1));
  auto stuck = put_back(s, *prior, 1);
  REQUIRE(stuck);
  CHECK(is_partly_applied(stuck));
  CHECK_THAT(message_of(stuck), Catch::Contains("key 'k'")
                                  && Catch::Contains("could not be read"));
  s.damaged.clear();
  CHECK(s.get("other", 1)->value == "other old");
  CHECK(s.get("k", 1)->value == "new"); // what the transaction wrote
}
