// The gateway's bounds, over loopback against the real service: batch-get
// size, duplicates and reply bytes (unprocessed_keys), typed list pages and
// the value size, with the service's peak memory measured where a bound is
// what keeps it small.

#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
namespace json = boost::json;

namespace {

/// The service's peak resident memory (VmHWM), in bytes.
size_t peak_rss_bytes(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024; // "VmHWM:  1234 kB"
  return 0;
}

constexpr size_t rss_limit = 600u << 20;

std::string keys_body(const std::vector<std::string>& keys) {
  json::array arr;
  for (auto& k : keys)
    arr.emplace_back(json::string{k});
  json::object o;
  o["keys"] = std::move(arr);
  return json::serialize(o);
}

std::vector<std::string> strings_of(const json::value& v) {
  std::vector<std::string> out;
  for (auto& x : v.as_array())
    out.emplace_back(x.as_string().c_str());
  return out;
}

std::string code_of(const http_response& r) {
  return json::value_to<std::string>(
    json::parse(r.body).at("error").at("code"));
}

} // namespace

TEST_CASE("one 1 MB key named 300 times in a batch-get is refused, and "
          "the service stays small") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state:big", std::string(1'000'000, 'x')).status
          == 201);
  std::vector<std::string> keys(300, "state:big");
  auto r = c.request("POST", "/v1/state/batch-get", keys_body(keys));
  CHECK(r.status == 400);
  CHECK(code_of(r) == "bad_request");
  CHECK(r.body.find("named twice") != std::string::npos);
  CHECK(peak_rss_bytes(svc.pid()) < rss_limit);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a 27 MB batch-get comes back in replies of at most "
          "max_reply_bytes, with unprocessed_keys to ask again") {
  service_process svc{"state:\n  type: memory\n  shards: 4\n"};
  http_client c{svc.port()};
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) {
    keys.push_back("state:v:" + std::to_string(i));
    REQUIRE(c.put("/v1/state/" + keys.back(),
                  std::string(900'000, static_cast<char>('a' + i % 26)))
              .status
            == 201);
  }
  std::vector<std::string> asked = keys;
  std::vector<std::string> answered;
  int replies = 0;
  while (!asked.empty()) {
    REQUIRE(++replies <= 30);
    auto r = c.request("POST", "/v1/state/batch-get", keys_body(asked));
    REQUIRE(r.status == 200);
    auto body = json::parse(r.body).as_object();
    size_t value_bytes = 0;
    auto& items = body.at("items").as_array();
    REQUIRE_FALSE(items.empty());
    for (auto& item : items) {
      answered.emplace_back(item.at("key").as_string().c_str());
      value_bytes += item.at("value").as_string().size() / 4 * 3;
    }
    CHECK(value_bytes <= (16u << 20) + 3);
    auto rest = strings_of(body.at("unprocessed_keys"));
    CHECK(rest == std::vector<std::string>(asked.begin() + items.size(),
                                           asked.end()));
    asked = rest;
  }
  CHECK(answered == keys);
  CHECK(replies == 2); // 18 values of 900 KB fit 16 MiB, then the other 12
  CHECK(peak_rss_bytes(svc.pid()) < rss_limit);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("batch-get: more keys than http.max_batch_keys is 400") {
  service_process svc{"state:\n  type: memory\nhttp:\n  max_batch_keys: 3\n"};
  http_client c{svc.port()};
  auto r = c.request("POST", "/v1/state/batch-get",
                     keys_body({"state:a", "state:b", "state:c", "state:d"}));
  CHECK(r.status == 400);
  CHECK(r.body.find("at most 3") != std::string::npos);
  CHECK(c.request("POST", "/v1/state/batch-get",
                  keys_body({"state:a", "state:b", "state:c"}))
          .status
        == 200);
}

TEST_CASE("a value over state.max_value_bytes is 413 payload_too_large") {
  service_process svc{"state:\n  type: memory\n  max_value_bytes: 1000\n"};
  http_client c{svc.port()};
  CHECK(c.put("/v1/state/state:k", std::string(1000, 'v')).status == 201);
  auto r = c.put("/v1/state/state:k", std::string(1001, 'v'));
  CHECK(r.status == 413);
  CHECK(code_of(r) == "payload_too_large");
  CHECK(c.get("/v1/state/state:k").body.size() == 1000);
  CHECK(c.put("/v1/orders/t/o1", std::string(1001, 'v')).status == 413);
}

TEST_CASE("typed lists page with limit and cursor") {
  service_process svc{"state:\n  type: memory\n  shards: 4\n"};
  http_client c{svc.port()};
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back("0x" + std::to_string(100 + i));
    REQUIRE(c.put("/v1/orders/eip7683/" + ids.back(), "o").status == 201);
    REQUIRE(c.put("/v1/fills/0xo/" + ids.back(), "f").status == 201);
  }
  auto walk = [&](const std::string& path, const std::string& field) {
    std::vector<std::string> seen;
    std::string target = path + "?limit=3";
    for (int pages = 0; pages < 10; ++pages) {
      auto r = c.get(target);
      REQUIRE(r.status == 200);
      auto body = json::parse(r.body).as_object();
      auto page = strings_of(body.at(field));
      CHECK(page.size() <= 3);
      seen.insert(seen.end(), page.begin(), page.end());
      if (body.at("next_cursor").is_null())
        break;
      target = path + "?limit=3&cursor="
               + std::string{body.at("next_cursor").as_string().c_str()};
    }
    return seen;
  };
  CHECK(walk("/v1/orders/eip7683", "ids") == ids);
  CHECK(walk("/v1/fills/0xo", "tx_hashes") == ids);
  CHECK(c.get("/v1/orders/eip7683?limit=0").status == 400);
  CHECK(c.get("/v1/orders/eip7683?cursor=%%%").status == 400);
  CHECK(c.get("/v1/orders/eip7683?colour=red").status == 400);
}
