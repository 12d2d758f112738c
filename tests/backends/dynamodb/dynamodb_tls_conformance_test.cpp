// The conformance suite against the DynamoDB backend over HTTPS: dynalite
// --ssl with a certificate for localhost, trusted through ca_file (whose
// path has a space, so the URL percent-encodes it).

#include <catch2/catch.hpp>

#include "tests/support/dynalite_server.hpp"
#include "tests/support/dynamodb_target.hpp"

using namespace solver_state;

namespace {

/// One server for every section of this binary: starting node costs ~0.5 s.
testing::dynalite_server& server() {
  static testing::dynalite_server instance{
    testing::dynalite_server::transport::https};
  return instance;
}

} // namespace

TEST_CASE("dynamodb backend conforms to the StateStore contract over HTTPS") {
  auto type = server().url("conformance");
  REQUIRE(type.rfind("dynamodbs://localhost:", 0) == 0);
  testing::run_conformance(testing::dynamodb_target(type));
}
