// The claim table (actors/cluster/claim_table.hpp): requests wait for the
// claims of their keys, each key is claimed once at a time, and claimed
// keys are remembered within a bound.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "actors/cluster/claim_table.hpp"
#include "messages/errors.hpp"

using namespace solver_state;

TEST_CASE("a request waits until every one of its keys is claimed, and a "
          "key being claimed is not claimed twice") {
  claim_table t;
  int done_a = 0, done_b = 0;
  caf::error err_a, err_b;
  auto first = t.wait_for({"k1", "k2"}, [&](const caf::error& e) {
    ++done_a;
    err_a = e;
  });
  CHECK(first == std::vector<std::string>{"k1", "k2"});
  // A second request for k2 and k3: only k3 is new to claim.
  auto second = t.wait_for({"k2", "k3"}, [&](const caf::error& e) {
    ++done_b;
    err_b = e;
  });
  CHECK(second == std::vector<std::string>{"k3"});
  t.settle("k1", {});
  CHECK(done_a == 0);
  t.settle("k2", {});
  CHECK(done_a == 1);
  CHECK_FALSE(err_a);
  CHECK(done_b == 0);
  t.settle("k3", make_state_error(state_errc::backend_unavailable, "x"));
  CHECK(done_b == 1);
  CHECK(code_of(err_b) == state_errc::backend_unavailable);
  // k1 and k2 are claimed now: a request for them runs at once; k3 failed
  // and is claimed again.
  int done_c = 0;
  auto third = t.wait_for({"k1", "k2", "k3"},
                          [&](const caf::error&) { ++done_c; });
  CHECK(third == std::vector<std::string>{"k3"});
  CHECK(done_c == 0);
  t.settle("k3", {});
  CHECK(done_c == 1);
  CHECK(t.claiming() == 0);
}

TEST_CASE("a request whose keys are all claimed, or that names one key "
          "twice, completes exactly once") {
  claim_table t;
  int done = 0;
  auto claim = t.wait_for({"a", "a"}, [&](const caf::error&) { ++done; });
  CHECK(claim == std::vector<std::string>{"a"});
  t.settle("a", {});
  CHECK(done == 1);
  CHECK(t.wait_for({"a"}, [&](const caf::error&) { ++done; }).empty());
  CHECK(done == 2);
}

TEST_CASE("claimed keys are remembered up to the bound, then claimed again "
          "(a cache, never a correctness condition)") {
  claim_table t{2};
  for (auto k : {"a", "b", "c"}) {
    auto claim = t.wait_for({k}, [](const caf::error&) {});
    REQUIRE(claim.size() == 1);
    t.settle(k, {});
  }
  CHECK(t.remembered() == 2);
  CHECK(t.claimed("a"));
  CHECK_FALSE(t.claimed("c"));
  t.forget_claimed();
  CHECK_FALSE(t.claimed("a"));
}
