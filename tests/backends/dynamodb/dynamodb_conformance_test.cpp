// The conformance suite against the DynamoDB backend, on a dynalite server
// started for this test on a free loopback port.

#include <catch2/catch.hpp>

#include "tests/support/dynalite_server.hpp"
#include "tests/support/dynamodb_target.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;

namespace {

/// One server for every section of this binary: starting node costs ~0.5 s.
testing::dynalite_server& server() {
  static testing::dynalite_server instance;
  return instance;
}

} // namespace

TEST_CASE("dynamodb backend conforms to the StateStore contract") {
  testing::run_conformance(
    testing::dynamodb_target(server().url("conformance")));
}

TEST_CASE("dynamodb backend conforms with compression and encryption on") {
  testing::key_files keys;
  auto target = testing::dynamodb_target(server().url("conformance"));
  testing::compress_and_encrypt(target.config, keys);
  testing::run_conformance(target);
}
