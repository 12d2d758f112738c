// The conformance suite against the DynamoDB backend, on a dynalite server
// started for this test on a free loopback port.

#include <catch2/catch.hpp>

#include "backends/dynamodb_api.hpp"
#include "backends/dynamodb_table.hpp"
#include "messages/errors.hpp"
#include "tests/conformance.hpp"
#include "tests/dynalite_server.hpp"

using namespace solver_state;

namespace {

/// One server for every section of this binary: starting node costs ~0.5 s.
testing::dynalite_server& server() {
  static testing::dynalite_server instance;
  return instance;
}

} // namespace

TEST_CASE("dynamodb backend conforms to the StateStore contract") {
  testing::conformance_target target;
  target.config.type = server().url("conformance");
  target.config.max_items = 0;
  target.config.shards = 4;
  target.instances_share_data = true;
  target.reset = [type = target.config.type] {
    auto ep = dynamodb::parse_endpoint(type);
    REQUIRE(ep);
    dynamodb::api_client api{*ep, aws::credentials::from_environment()};
    auto err = dynamodb::drop_table(api, std::chrono::seconds{10});
    INFO(message_of(err));
    REQUIRE_FALSE(err);
  };
  testing::run_conformance(target);
}
