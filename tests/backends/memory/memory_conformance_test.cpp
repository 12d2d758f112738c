// The conformance suite against the memory backend.

#include <catch2/catch.hpp>

#include "tests/support/conformance.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;

TEST_CASE("memory backend conforms to the StateStore contract") {
  testing::conformance_target target;
  target.config.type = "memory";
  target.config.max_items = 0;
  target.reset = [] {}; // every open is a fresh, empty store
  testing::run_conformance(target);
}

TEST_CASE("memory backend conforms with compression and encryption on") {
  testing::key_files keys;
  testing::conformance_target target;
  target.config.type = "memory";
  target.config.max_items = 0;
  testing::compress_and_encrypt(target.config, keys);
  target.reset = [] {};
  testing::run_conformance(target);
}
