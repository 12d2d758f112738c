// HTTP by the RFC (RFC 9110): HEAD, Date, If-Match forms, 431, Allow on
// every 405, X-Request-Id. The real build/solver-state over loopback, raw
// bytes where a client library would hide what is on the wire.

#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

std::string error_code_of(const std::string& body) {
  std::smatch m;
  std::regex code{R"re("code":"([a-z_]+)")re"};
  return std::regex_search(body, m, code) ? std::string{m[1]} : "";
}

} // namespace

TEST_CASE("If-Match takes * and lists on writes; weak tags never match") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  auto key = std::string{"/v1/state/state:c:im"};
  // "*": the key must exist.
  auto absent = c.put(key, "x", {{"If-Match", "*"}});
  CHECK(absent.status == 412);
  CHECK(error_code_of(absent.body) == "version_mismatch");
  CHECK(c.del(key, {{"If-Match", "*"}}).status == 412);
  CHECK(c.get(key).status == 404); // the 412 wrote nothing
  auto v1 = c.put(key, "v1").header("etag");
  REQUIRE(!v1.empty());
  auto star = c.put(key, "v2", {{"If-Match", "*"}});
  CHECK(star.status == 204);
  auto v2 = star.header("etag");
  CHECK(v2 != v1);
  CHECK(c.get(key).body == "v2");
  // A list: any strong tag may match.
  CHECK(c.put(key, "no", {{"If-Match", "\"1\", " + v1}}).status == 412);
  auto listed = c.put(key, "v3", {{"If-Match", "\"1\", " + v2 + ", \"2\""}});
  CHECK(listed.status == 204);
  auto v3 = listed.header("etag");
  // One strong tag among weak and foreign ones.
  auto mixed = c.put(key, "v4", {{"If-Match", "W/\"5\", \"abc\", " + v3}});
  CHECK(mixed.status == 204);
  auto v4 = mixed.header("etag");
  // A weak tag never matches a write, even of the current version.
  auto weak = c.put(key, "no", {{"If-Match", "W/" + v4}});
  CHECK(weak.status == 412);
  CHECK(error_code_of(weak.body) == "version_mismatch");
  CHECK(c.del(key, {{"If-Match", "W/" + v4}}).status == 412);
  CHECK(c.put(key, "no", {{"If-Match", "\"abc\""}}).status == 412);
  CHECK(c.get(key).body == "v4");
  // Still malformed: unquoted text, "*" inside a list, a missing comma.
  for (std::string bad : {std::string{"v4"}, "*, " + v4, v4 + " " + v4}) {
    auto r = c.put(key, "no", {{"If-Match", bad}});
    CHECK(r.status == 400);
    CHECK(error_code_of(r.body) == "bad_request");
  }
  CHECK(c.del(key, {{"If-Match", "\"1\", " + v4}}).status == 204);
  CHECK(c.get(key).status == 404);
  REQUIRE(c.put(key, "again").status == 204);
  CHECK(c.del(key, {{"If-Match", "*"}}).status == 204);
  CHECK(c.get(key).status == 404);
  // Typed routes share the rules.
  REQUIRE(c.put("/v1/orders/t/1", "o").status == 204);
  CHECK(c.put("/v1/orders/t/1", "o2", {{"If-Match", "*"}}).status == 204);
  CHECK(c.put("/v1/fills/o/none", "f", {{"If-Match", "*"}}).status == 412);
}

TEST_CASE("GET: If-Match lists compare strongly, If-None-Match lists "
          "weakly") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  auto key = std::string{"/v1/state/state:c:g"};
  auto v = c.put(key, "value").header("etag");
  REQUIRE(!v.empty());
  CHECK(c.get(key, {{"If-Match", "*"}}).status == 200);
  CHECK(c.get(key, {{"If-Match", "\"1\", " + v}}).status == 200);
  CHECK(c.get(key, {{"If-Match", "\"1\", \"2\""}}).status == 412);
  CHECK(c.get(key, {{"If-Match", "W/" + v}}).status == 412);
  auto hit = c.get(key, {{"If-None-Match", "\"1\", " + v}});
  CHECK(hit.status == 304);
  CHECK(hit.header("etag") == v);
  CHECK(hit.body.empty());
  CHECK(c.get(key, {{"If-None-Match", "W/" + v}}).status == 304);
  auto miss = c.get(key, {{"If-None-Match", "\"1\", W/\"2\""}});
  CHECK(miss.status == 200);
  CHECK(miss.body == "value");
  CHECK(c.get(key, {{"If-None-Match", "\"1\" \"2\""}}).status == 400);
  // Writes still take only "*" in If-None-Match.
  CHECK(c.put(key, "x", {{"If-None-Match", v}}).status == 400);
  // An absent key is 404 whatever the conditions (RFC 9110 13.2.1).
  CHECK(c.get("/v1/state/nope", {{"If-Match", "*"}}).status == 404);
}
