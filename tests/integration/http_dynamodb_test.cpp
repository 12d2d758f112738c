// The service over HTTP on a DynamoDB table reached over a slow network (a
// proxy adding a few milliseconds to each request in front of dynalite):
// what takes one round trip per key must still answer within
// http.request_timeout.

#include <algorithm>
#include <chrono>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "backends/dynamodb/api.hpp"
#include "backends/dynamodb/codec.hpp"
#include "backends/dynamodb/table.hpp"
#include "tests/support/dynalite_server.hpp"
#include "tests/support/dynamodb_items.hpp"
#include "tests/support/dynamodb_proxy.hpp"
#include "tests/support/http_test_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
namespace json = boost::json;

namespace {

/// `count` keys `prefix`N (N from 10000) straight into a fresh `table`.
void fill_table(const dynalite_server& server, const std::string& table,
                const std::string& prefix, int count) {
  auto ep = dynamodb::parse_endpoint(server.url(table));
  REQUIRE(ep);
  dynamodb::api_client api{*ep, aws::credentials::from_environment()};
  REQUIRE_FALSE(dynamodb::drop_table(api, std::chrono::seconds{10}));
  REQUIRE_FALSE(dynamodb::ensure_table(api, std::chrono::seconds{10}));
  put_items(server, table, prefix, count);
}

} // namespace

// Each key is a DeleteItem, a round trip: a call of up to 10,000 keys per
// shard took ~45 s at 4 ms each, and the request answered 504 (12,000 keys:
// 504 after 5 s, 3,696 left). Found by review.
TEST_CASE("a delete by prefix on DynamoDB over a slow network answers 200 "
          "with every key deleted, not 504") {
  dynalite_server server;
  fill_table(server, "del-slow", "state:del:", 1'000);
  dynamodb_proxy proxy{server.port(), std::chrono::milliseconds{4}};
  service_process node{"state:\n  type: \"" + proxy.url("del-slow")
                       + "\"\n  shards: 2\nhttp:\n  request_timeout: 2s\n"};
  http_client client{node.port()};
  REQUIRE(client.put("/v1/state/state:keep:1", "k").status == 201);
  auto started = std::chrono::steady_clock::now();
  auto deleted = client.request("DELETE", "/v1/state?prefix=state%3Adel%3A");
  INFO(deleted.body);
  REQUIRE(deleted.status == 200);
  CHECK(deleted.body == R"({"deleted":1000})");
  CHECK(std::chrono::steady_clock::now() - started
        > std::chrono::seconds{2}); // longer than one request_timeout
  CHECK(client.get("/v1/state?prefix=state%3Adel%3A").body.find("state:del:")
        == std::string::npos);
  CHECK(client.get("/v1/state/state:keep:1").status == 200);
}
