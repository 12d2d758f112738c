// The conformance suite against the DynamoDB backend over HTTPS: dynalite
// --ssl with a certificate for localhost, trusted through ca_file (whose
// path has a space, so the URL percent-encodes it).

#include <catch2/catch.hpp>

#include "backends/dynamodb_api.hpp"
#include "backends/dynamodb_table.hpp"
#include "messages/errors.hpp"
#include "tests/conformance.hpp"
#include "tests/dynalite_server.hpp"

using namespace solver_state;

namespace {

testing::dynalite_server& server() {
  static testing::dynalite_server instance{
    testing::dynalite_server::transport::https};
  return instance;
}

} // namespace

TEST_CASE("dynamodb backend conforms to the StateStore contract over HTTPS") {
  testing::conformance_target target;
  target.config.type = server().url("conformance");
  REQUIRE(target.config.type.rfind("dynamodbs://localhost:", 0) == 0);
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
