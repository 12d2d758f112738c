// POST /v1/query end to end: the real binary over loopback with declared
// indexes: conditions, order, paging by cursor, values, clear 400s for bad
// bodies, and the typed routes' writes seen by queries.

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <stdlib.h>

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

TEST_CASE("POST /v1/query finds a decimal by the text it was written with") {
  // Decimals that Boost.JSON's own parse rounds to a neighbour of the
  // nearest double (the indexes read values with simdjson, which does not).
  service_process svc{config};
  http_client c{svc.port()};
  std::vector<std::string> texts{"123.45678901234567", "1664336.7447514997",
                                 "247361.78675413286", "1569632.6026741401",
                                 "6.02214076e23"};
  for (size_t i = 0; i < texts.size(); ++i)
    REQUIRE(c.put("/v1/state/order:dec:" + std::to_string(i),
                  R"({"status":"open","deadline":)" + texts[i] + "}")
              .status
            == 201);
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO(texts[i]);
    auto key = "order:dec:" + std::to_string(i);
    auto where = [&](const char* op) {
      return keys_of(post_query(
        c, R"({"prefix":"order:dec:","where":[{"index":"deadline","op":")"
             + std::string{op} + R"(","value":)" + texts[i] + "}]}"));
    };
    CHECK(where("eq") == std::vector<std::string>{key});
    auto gte = where("gte");
    auto gt = where("gt");
    CHECK(std::count(gte.begin(), gte.end(), key) == 1);
    CHECK(std::count(gt.begin(), gt.end(), key) == 0);
  }
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
  refused("{", "malformed JSON");
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

namespace {

/// A data directory that outlives one service process.
struct data_dir {
  std::string path;
  data_dir() {
    char tmpl[] = "/tmp/solver-state-query-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~data_dir() { std::filesystem::remove_all(path); }
  bool has(const std::string& name) const {
    return std::filesystem::exists(path + "/" + name);
  }
};

std::string file_config(const data_dir& dir, bool extra_index = false,
                        bool indexes = true) {
  auto head = "state:\n  type: file\n  shards: 2\n  file: {base_path: \""
              + dir.path + "\", fsync: always}\n";
  if (!indexes)
    return head;
  return head + "  indexes:\n"
         + "    - {name: status, prefix: \"order:\", path: /status}\n"
         + "    - {name: deadline, prefix: \"order:\", path: /deadline}\n"
         + (extra_index ? "    - {name: chain, prefix: \"order:\", path: "
                          "/chain}\n"
                        : "");
}

void wait_ready(http_client& c) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (c.get("/readyz").status != 200) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// The pending orders, soonest deadline first, every page.
std::vector<std::string> pending_by_deadline(http_client& c) {
  std::vector<std::string> keys;
  json::value cursor = nullptr;
  while (true) {
    json::object req{{"where", json::array{json::object{
                                 {"index", "status"},
                                 {"op", "eq"},
                                 {"value", "pending"}}}},
                     {"order_by", json::object{{"index", "deadline"}}},
                     {"limit", 3},
                     {"cursor", cursor}};
    auto page = post_query(c, json::serialize(req));
    for (auto& k : keys_of(page))
      keys.push_back(k);
    cursor = page.at("next_cursor");
    if (cursor.is_null())
      return keys;
  }
}

const std::string any_pending =
  R"({"where":[{"index":"status","op":"eq","value":"pending"}]})";

/// Waits (up to 20 s) until a query answers 200: a start that builds its
/// indexes answers 503 until they are built.
void wait_queryable(http_client& c) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (c.request("POST", "/v1/query", any_pending).status != 200) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("the file backend keeps the indexes across a clean stop, and a "
          "crash after a start never leaves the next one a stale snapshot") {
  data_dir dir;
  const std::string loaded = "indexes loaded from the last stop's snapshot";
  std::vector<std::string> pending;
  {
    service_process svc{file_config(dir)};
    http_client c{svc.port()};
    wait_ready(c);
    for (int i = 0; i < 30; ++i) {
      auto status = i % 3 == 0 ? "pending" : "filled";
      REQUIRE(c.put("/v1/state/order:o" + std::to_string(i),
                    std::string{R"({"status":")"} + status
                      + R"(","deadline":)" + std::to_string(500 - i) + "}")
                .status
              == 201);
    }
    pending = pending_by_deadline(c);
    REQUIRE(pending.size() == 10);
    REQUIRE(svc.stop(SIGTERM) == 0);
    CHECK(count_of(svc.log(), "indexes kept for the next start") == 2);
  }
  CHECK(dir.has("~query-0"));
  CHECK(dir.has("~query-1"));
  {
    service_process svc{file_config(dir)};
    http_client c{svc.port()};
    wait_ready(c);
    CHECK(count_of(svc.log(), loaded) == 2);
    CHECK(count_of(svc.log(), "indexes built") == 0);
    CHECK(pending_by_deadline(c) == pending);
    // Taken at the start: what this run changes is not in any snapshot.
    CHECK_FALSE(dir.has("~query-0"));
    CHECK_FALSE(dir.has("~query-1"));
    REQUIRE(c.put("/v1/state/order:late",
                  R"({"status":"pending","deadline":1})")
              .status
            == 201);
    REQUIRE(c.request("DELETE", "/v1/state/order:o3").status == 204);
    REQUIRE(c.put("/v1/state/order:o6", R"({"status":"filled","deadline":9})")
              .status
            == 204); // replaced
    REQUIRE(svc.stop(SIGKILL) == 128 + SIGKILL);
  }
  pending.erase(std::remove(pending.begin(), pending.end(), "order:o3"),
                pending.end());
  pending.erase(std::remove(pending.begin(), pending.end(), "order:o6"),
                pending.end());
  pending.insert(pending.begin(), "order:late");
  {
    service_process svc{file_config(dir)};
    http_client c{svc.port()};
    wait_ready(c);
    // Built from the values, so the writes before the crash are there.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    while (true) {
      auto r = c.request("POST", "/v1/query", any_pending);
      if (r.status == 200)
        break;
      REQUIRE(r.status == 503); // still building
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    CHECK(count_of(svc.log(), loaded) == 0);
    CHECK(pending_by_deadline(c) == pending);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  // Another declaration of indexes: the snapshot no longer fits.
  service_process svc{file_config(dir, true)};
  http_client c{svc.port()};
  wait_ready(c);
  wait_queryable(c);
  CHECK(count_of(svc.log(), loaded) == 0);
  CHECK(count_of(svc.log(), "holds 2 indexes, state.indexes declares 3") == 2);
  CHECK(pending_by_deadline(c) == pending);
}

TEST_CASE("a run without indexes between two with them leaves the second "
          "no stale snapshot") {
  data_dir dir;
  {
    service_process svc{file_config(dir)};
    http_client c{svc.port()};
    wait_ready(c);
    REQUIRE(c.put("/v1/state/order:a", R"({"status":"pending","deadline":5})")
              .status
            == 201);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  REQUIRE(dir.has("~query-0"));
  REQUIRE(dir.has("~query-1"));
  {
    // No index declared: this run's writes are in no snapshot.
    service_process svc{file_config(dir, false, false)};
    http_client c{svc.port()};
    wait_ready(c);
    REQUIRE(c.put("/v1/state/order:b", R"({"status":"pending","deadline":1})")
              .status
            == 201);
    REQUIRE(c.request("DELETE", "/v1/state/order:a").status == 204);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  CHECK_FALSE(dir.has("~query-0"));
  CHECK_FALSE(dir.has("~query-1"));
  service_process svc{file_config(dir)};
  http_client c{svc.port()};
  wait_ready(c);
  wait_queryable(c);
  CHECK(pending_by_deadline(c) == std::vector<std::string>{"order:b"});
}
