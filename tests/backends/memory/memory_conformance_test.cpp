// The conformance suite against the memory backend.

#include <catch2/catch.hpp>

#include "tests/support/conformance.hpp"

using namespace solver_state;

TEST_CASE("memory backend conforms to the StateStore contract") {
  testing::conformance_target target;
  target.config.type = "memory";
  target.config.max_items = 0;
  target.reset = [] {}; // every open is a fresh, empty store
  testing::run_conformance(target);
}
