// state.type parsing for the DynamoDB backend.

#include <catch2/catch.hpp>

#include "backends/dynamodb/api.hpp"
#include "backends/dynamodb/endpoint.hpp"
#include "config/config.hpp"
#include "messages/errors.hpp"

using namespace solver_state;

TEST_CASE("a full dynamodb:// URL parses") {
  auto ep = dynamodb::parse_endpoint(
    "dynamodb://127.0.0.1:8000/solver_state?region=eu-west-1&timeout_ms=250"
    "&connect_timeout_ms=100&sweep_interval_s=5");
  REQUIRE(ep);
  CHECK(ep->host == "127.0.0.1");
  CHECK(ep->port == 8000);
  CHECK(ep->table == "solver_state");
  CHECK(ep->region == "eu-west-1");
  CHECK_FALSE(ep->tls);
  CHECK(ep->request_timeout == std::chrono::milliseconds{250});
  CHECK(ep->connect_timeout == std::chrono::milliseconds{100});
  CHECK(ep->sweep_interval == std::chrono::seconds{5});
  CHECK(ep->host_header() == "127.0.0.1:8000");
}

TEST_CASE("defaults: port 80, host header without the port") {
  auto ep = dynamodb::parse_endpoint("dynamodb://dynamo.local/tbl");
  REQUIRE(ep);
  CHECK(ep->port == 80);
  CHECK(ep->host_header() == "dynamo.local");
  CHECK_FALSE(ep->region.empty());
}

// At 5000 ms, the default http.request_timeout, a DynamoDB that hung
// showed as the gateway's generic 504 instead of the backend's own
// "no reply within N ms". Found by review.
TEST_CASE("the default timeout_ms answers before http.request_timeout's "
          "default, retries included") {
  auto ep = dynamodb::parse_endpoint("dynamodb://dynamo.local/tbl");
  REQUIRE(ep);
  CHECK(ep->request_timeout == std::chrono::milliseconds{4'000});
  CHECK(ep->request_timeout < http_config{}.request_timeout);
  // A call's retries stay within its timeout_ms (api_client::call).
  CHECK(dynamodb::api_client::retry_budget < ep->request_timeout);
}

TEST_CASE("watches=local is the only value of watches") {
  auto none = dynamodb::parse_endpoint("dynamodb://h:1/tbl");
  REQUIRE(none);
  CHECK_FALSE(none->local_watches);
  auto local = dynamodb::parse_endpoint("dynamodb://h:1/tbl?watches=local");
  REQUIRE(local);
  CHECK(local->local_watches);
  auto bad = dynamodb::parse_endpoint("dynamodb://h:1/tbl?watches=all");
  REQUIRE_FALSE(bad);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("watches must be local"));
}

TEST_CASE("IPv6 hosts are bracketed") {
  auto ep = dynamodb::parse_endpoint("dynamodb://[::1]:4567/tbl");
  REQUIRE(ep);
  CHECK(ep->host == "::1");
  CHECK(ep->port == 4567);
  CHECK(ep->host_header() == "[::1]:4567");
}

TEST_CASE("tls=1 and dynamodbs:// ask for HTTPS") {
  auto a = dynamodb::parse_endpoint("dynamodbs://dynamodb.us-east-1.amazonaws"
                                    ".com/tbl");
  REQUIRE(a);
  CHECK(a->tls);
  CHECK(a->port == 443);
  auto b = dynamodb::parse_endpoint("dynamodb://h:1/tbl?tls=1");
  REQUIRE(b);
  CHECK(b->tls);
}

TEST_CASE("ca_file names a CA bundle for HTTPS, percent-decoded") {
  auto ep = dynamodb::parse_endpoint(
    "dynamodbs://dynamodb.eu-west-1.amazonaws.com/tbl?ca_file=/etc/my%20ca/"
    "bundle%2Bold.pem&region=eu%2Dwest-1");
  REQUIRE(ep);
  CHECK(ep->ca_file == "/etc/my ca/bundle+old.pem");
  CHECK(ep->region == "eu-west-1");
  CHECK(ep->host_header() == "dynamodb.eu-west-1.amazonaws.com");
  auto plain = dynamodb::parse_endpoint("dynamodb://h:1/tbl");
  REQUIRE(plain);
  CHECK(plain->ca_file.empty());
}

TEST_CASE("malformed URLs are refused with the reason") {
  for (auto url : {"redis://h/tbl", "dynamodb://h:1", "dynamodb://:1/tbl",
                   "dynamodb://h:0/tbl", "dynamodb://h:70000/tbl",
                   "dynamodb://h:x/tbl", "dynamodb://h/ab",
                   "dynamodb://h/bad name", "dynamodb://h/tbl?region=",
                   "dynamodb://h/tbl?timeout_ms=0", "dynamodb://h/tbl?bogus=1",
                   "dynamodb://h/tbl?tls=yes", "dynamodb://h/tbl?region",
                   "dynamodb://h/tbl?ca_file=/ca.pem",
                   "dynamodb://h/tbl?ca_file=/ca.pem&tls=0",
                   "dynamodbs://h/tbl?ca_file=",
                   "dynamodbs://h/tbl?ca_file=/a%00b",
                   "dynamodbs://h/tbl?ca_file=/a%2"}) {
    INFO(url);
    auto ep = dynamodb::parse_endpoint(url);
    REQUIRE_FALSE(ep);
    CHECK(code_of(ep.error()) == state_errc::bad_request);
    CHECK_THAT(message_of(ep.error()), Catch::Contains(url));
  }
}
