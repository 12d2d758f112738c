// POST /v1/query end to end: the real binary over loopback with declared
// indexes: conditions, order, paging by cursor, values, clear 400s for bad
// bodies, and the typed routes' writes seen by queries.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "tests/support/http_test_support.hpp"
#include "util/base64.hpp"

using namespace solver_state::testing;
namespace json = boost::json;

namespace {

const std::string config = R"(state:
  type: memory
  shards: 4
  indexes:
    - {name: status, prefix: "order:", path: /status}
    - {name: deadline, prefix: "order:", path: /deadline}
)";

json::object post_query(http_client& c, const std::string& body,
                        unsigned status = 200) {
  auto r = c.request("POST", "/v1/query", body);
  INFO(r.body);
  REQUIRE(r.status == status);
  return json::parse(r.body).as_object();
}

std::vector<std::string> keys_of(const json::object& page) {
  std::vector<std::string> out;
  for (auto& item : page.at("items").as_array())
    out.emplace_back(item.as_object().at("key").as_string().c_str());
  return out;
}

} // namespace

TEST_CASE("POST /v1/query answers pages of the keys whose indexed fields "
          "match, in the order asked") {
  service_process svc{config};
  http_client c{svc.port()};
  for (int i = 0; i < 25; ++i) {
    auto status = i % 5 == 0 ? "pending" : "filled";
    auto body = std::string{R"({"status":")"} + status + R"(","deadline":)"
                + std::to_string(1000 - i) + "}";
    REQUIRE(c.put("/v1/orders/swap/o" + std::to_string(i), body).status
            == 201);
  }
  REQUIRE(c.put("/v1/state/order:swap:text", "not json").status == 201);
  // The pending ones, soonest deadline first, two a page, with values.
  std::string body = R"({"prefix":"order:swap:","where":[{"index":"status",)"
                     R"("op":"eq","value":"pending"}],"order_by":{"index":)"
                     R"("deadline","direction":"asc"},"limit":2,)"
                     R"("values":true})";
  std::vector<std::string> keys;
  json::value cursor = nullptr;
  int pages = 0;
  while (true) {
    auto req = json::parse(body).as_object();
    req["cursor"] = cursor;
    auto page = post_query(c, json::serialize(req));
    for (auto& item : page.at("items").as_array()) {
      auto& o = item.as_object();
      std::string key{o.at("key").as_string().c_str()};
      keys.push_back(key);
      // The value and the etag are the key's.
      auto got = c.get("/v1/state/" + key);
      CHECK(o.at("etag").as_string() == got.header("etag"));
      auto value = solver_state::base64_decode(
        std::string{o.at("value").as_string().c_str()});
      REQUIRE(value);
      CHECK(*value == got.body);
    }
    ++pages;
    cursor = page.at("next_cursor");
    if (cursor.is_null())
      break;
  }
  CHECK(keys
        == std::vector<std::string>{"order:swap:o20", "order:swap:o15",
                                    "order:swap:o10", "order:swap:o5",
                                    "order:swap:o0"});
  CHECK(pages == 3);
  // Key order, descending by deadline, ranges; no values unless asked.
  auto page = post_query(c, R"({"prefix":"order:","where":[{"index":)"
                            R"("deadline","op":"gte","value":998}]})");
  CHECK(keys_of(page)
        == std::vector<std::string>{"order:swap:o0", "order:swap:o1",
                                    "order:swap:o2"});
  CHECK_FALSE(page.at("items").as_array()[0].as_object().contains("value"));
  page = post_query(c, R"({"where":[{"index":"status","op":"in","value":)"
                       R"(["pending"]},{"index":"deadline","op":"lt",)"
                       R"("value":990}],"order_by":{"index":"deadline",)"
                       R"("direction":"desc"}})");
  CHECK(keys_of(page)
        == std::vector<std::string>{"order:swap:o15", "order:swap:o20"});
  // A delete through the typed route leaves the answer.
  REQUIRE(c.request("DELETE", "/v1/orders/swap/o15").status == 204);
  page = post_query(c, R"({"where":[{"index":"status","op":"eq","value":)"
                       R"("pending"},{"index":"deadline","op":"lt",)"
                       R"("value":990}]})");
  CHECK(keys_of(page) == std::vector<std::string>{"order:swap:o20"});
}

TEST_CASE("POST /v1/query refuses bad bodies with 400 and a reason") {
  service_process svc{config};
  http_client c{svc.port()};
  auto refused = [&](const std::string& body, const std::string& words) {
    auto r = c.request("POST", "/v1/query", body);
    INFO(body << " -> " << r.body);
    CHECK(r.status == 400);
    CHECK(error_code_of(r.body) == "bad_request");
    CHECK_THAT(r.body, Catch::Contains(words));
  };
  refused("{", "not JSON");
  refused("[]", "JSON object");
  refused(R"({"where":[{"index":"colour","op":"eq","value":"red"}]})",
          "no index named 'colour'");
  refused(R"({"where":[{"index":"status","op":"like","value":"p%"}]})",
          "\\\"op\\\" must be one of");
  refused(R"({"where":[{"index":"status","op":"eq","value":true}]})",
          "string or a number");
  refused(R"({"where":[{"index":"status","op":"in","value":"x"}]})",
          "must be an array");
  refused(R"({"where":[{"index":"status","op":"eq"}]})", "missing");
  refused(R"({"where":[{"index":"status","op":"eq","value":"x","vale":1}]})",
          "unknown field");
  refused(R"({"where":[],"limit":0})", "limit");
  refused(R"({"where":[],"limit":1001})", "limit");
  refused(R"({"order_by":{"index":"deadline","direction":"up"}})",
          "asc");
  refused(R"({"order_by":{"index":"deadline"},"cursor":"%%%"})", "cursor");
  refused(R"({"order_by":{"index":"deadline"},"cursor":"Zm9v"})", "cursor");
  refused(R"({"prefix":"fill:","where":[{"index":"status","op":"exists"}]})",
          "covers keys under");
  refused(R"({})", "needs a condition or an order_by");
  refused(R"({"prefx":"order:"})", "unknown field");
  // Another method: 405, with Allow.
  auto r = c.get("/v1/query");
  CHECK(r.status == 405);
  CHECK(r.header("allow") == "POST");
}

TEST_CASE("POST /v1/query on a store that declares no index says so") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  auto r = c.request("POST", "/v1/query",
                     R"({"where":[{"index":"status","op":"exists"}]})");
  CHECK(r.status == 400);
  CHECK_THAT(r.body, Catch::Contains("no index is declared"));
}
