// HTTP API v1 end to end: the real build/solver-state on a free loopback
// port, driven over TCP by a real HTTP client.

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "util/base64.hpp"
#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
using solver_state::base64_decode;

namespace {

/// The strings of a JSON array field, in order (enough for our bodies, whose
/// strings hold no escaped quotes in these tests).
std::vector<std::string> json_strings(const std::string& body,
                                      const std::string& field) {
  std::vector<std::string> out;
  auto start = body.find("\"" + field + "\":[");
  if (start == std::string::npos)
    return out;
  auto end = body.find(']', start);
  std::regex str{R"re("((?:[^"\\]|\\.)*)")re"};
  auto list = body.substr(start + field.size() + 4, end - start - field.size() - 4);
  for (std::sregex_iterator it{list.begin(), list.end(), str}, e; it != e; ++it)
    out.push_back((*it)[1]);
  return out;
}

std::string error_code_of(const http_response& r) {
  std::smatch m;
  std::regex code{R"re("code":"([a-z_]+)")re"};
  return std::regex_search(r.body, m, code) ? std::string{m[1]} : "";
}

} // namespace

TEST_CASE("health, readiness and metrics answer") {
  service_process svc;
  http_client c{svc.port()};
  auto h = c.get("/healthz");
  CHECK(h.status == 200);
  CHECK(h.body == R"({"status":"ok"})");
  CHECK(h.header("content-type") == "application/json");
  CHECK(c.get("/readyz").status == 200);
  // They ignore the query, a repeated parameter too.
  CHECK(c.get("/healthz?probe=1&probe=2").status == 200);
  auto m = c.get("/metrics");
  CHECK(m.status == 200);
  CHECK(m.header("content-type").find("version=0.0.4") != std::string::npos);
  CHECK(m.body.find("# TYPE state_operations_total counter")
        != std::string::npos);
}

TEST_CASE("PUT, GET and DELETE of /v1/state/{key} with ETags") {
  service_process svc;
  http_client c{svc.port()};
  std::string value = std::string("bin\0ary\xff", 8);
  auto put = c.put("/v1/state/state:comp:k1", value);
  REQUIRE(put.status == 201); // created
  auto etag = put.header("etag");
  CHECK(std::regex_match(etag, std::regex{R"re("\d+")re"}));
  CHECK(put.header("content-length") == "0"); // a 201 may have a body
  auto get = c.get("/v1/state/state:comp:k1");
  CHECK(get.status == 200);
  CHECK(get.body == value);
  CHECK(get.header("etag") == etag);
  CHECK(get.header("content-type") == "application/octet-stream");
  // Same value again: still a new version.
  auto put2 = c.put("/v1/state/state:comp:k1", value);
  CHECK(put2.status == 204);                    // replaced
  CHECK(put2.header("content-length").empty()); // RFC 9110 8.6: none on 204
  CHECK(put2.header("etag") != etag);
  CHECK(c.del("/v1/state/state:comp:k1").status == 204);
  auto gone = c.get("/v1/state/state:comp:k1");
  CHECK(gone.status == 404);
  CHECK(error_code_of(gone) == "not_found");
  CHECK(gone.body.find("\"message\":") != std::string::npos);
  CHECK(c.del("/v1/state/state:comp:k1").status == 204); // absent: still 204
  CHECK(c.put("/v1/state/state:comp:k1", value).status == 201); // anew
}

TEST_CASE("path segments are percent-decoded and keys validated") {
  service_process svc;
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state%3Acomp%3Aa%20b%2Fc", "v").status == 201);
  auto list = c.get("/v1/state?prefix=state%3Acomp%3A");
  CHECK(json_strings(list.body, "keys")
        == std::vector<std::string>{"state:comp:a b/c"});
  CHECK(c.get("/v1/state/state:comp:a%20b/c").body == "v");
  auto nul = c.put("/v1/state/bad%00key", "v");
  CHECK(nul.status == 400);
  CHECK(error_code_of(nul) == "invalid_key");
  auto long_key = c.put("/v1/state/" + std::string(1025, 'k'), "v");
  CHECK(long_key.status == 400);
  CHECK(error_code_of(long_key) == "invalid_key");
  auto empty = c.get("/v1/state/");
  CHECK(empty.status == 400);
  CHECK(error_code_of(empty) == "invalid_key");
  auto bad_escape = c.get("/v1/state/a%zz");
  CHECK(bad_escape.status == 400);
  CHECK(error_code_of(bad_escape) == "bad_request");
}

TEST_CASE("If-Match and If-None-Match decide conditional requests") {
  service_process svc;
  http_client c{svc.port()};
  auto key = "/v1/state/state:c:cond";
  auto absent_match = c.put(key, "x", {{"If-Match", "\"12345\""}});
  CHECK(absent_match.status == 412);
  CHECK(error_code_of(absent_match) == "version_mismatch");
  auto created = c.put(key, "v1", {{"If-None-Match", "*"}});
  REQUIRE(created.status == 201);
  auto v1 = created.header("etag");
  CHECK(c.put(key, "v1b", {{"If-None-Match", "*"}}).status == 412);
  auto updated = c.put(key, "v2", {{"If-Match", v1}});
  REQUIRE(updated.status == 204);
  auto v2 = updated.header("etag");
  CHECK(c.put(key, "stale", {{"If-Match", v1}}).status == 412);
  CHECK(c.get(key).body == "v2");
  auto not_modified = c.get(key, {{"If-None-Match", v2}});
  CHECK(not_modified.status == 304);
  CHECK(not_modified.body.empty());
  CHECK(c.get(key, {{"If-None-Match", v1}}).status == 200);
  CHECK(c.get(key, {{"If-Match", v1}}).status == 412);
  CHECK(c.del(key, {{"If-Match", v1}}).status == 412);
  CHECK(c.get(key).status == 200);
  auto malformed = c.put(key, "x", {{"If-Match", "v2"}});
  CHECK(malformed.status == 400);
  CHECK(error_code_of(malformed) == "bad_request");
  CHECK(c.del(key, {{"If-Match", v2}}).status == 204);
  CHECK(c.get(key).status == 404);
}

TEST_CASE("ttl_seconds expires values, and a bad ttl changes nothing") {
  service_process svc;
  http_client c{svc.port()};
  auto bad = c.put("/v1/state/state:c:ttl?ttl_seconds=soon", "x");
  CHECK(bad.status == 400);
  CHECK(error_code_of(bad) == "bad_request");
  CHECK(c.put("/v1/state/state:c:ttl?ttl_seconds=-1", "x").status == 400);
  CHECK(c.put("/v1/state/state:c:ttl?color=red", "x").status == 400);
  // Repeated, refused whole: not read as its last value, nor as its first.
  for (auto query : {"ttl_seconds=abc&ttl_seconds=5",
                     "ttl_seconds=5&ttl_seconds=0"}) {
    INFO(query);
    auto twice = c.put(std::string{"/v1/state/state:c:ttl?"} + query, "x");
    CHECK(twice.status == 400);
    CHECK(twice.body.find("query parameter 'ttl_seconds' is given more than "
                          "once")
          != std::string::npos);
  }
  CHECK(c.get("/v1/state/state:c:ttl").status == 404);
  REQUIRE(c.put("/v1/state/state:c:ttl?ttl_seconds=1", "x").status == 201);
  REQUIRE(c.put("/v1/state/state:c:keep?ttl_seconds=0", "y").status == 201);
  CHECK(c.get("/v1/state/state:c:ttl").status == 200);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  unsigned status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    status = c.get("/v1/state/state:c:ttl").status;
  }
  CHECK(status == 404);
  CHECK(c.get("/v1/state/state:c:keep").status == 200);
}

TEST_CASE("listing pages through keys with an opaque cursor") {
  service_process svc;
  http_client c{svc.port()};
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    auto key = "state:page:" + std::to_string(1000 + i * 7 % 25);
    REQUIRE(c.put("/v1/state/" + key, "v").status == 201);
    expected.push_back(key);
  }
  REQUIRE(c.put("/v1/state/state:other:x", "v").status == 201);
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> seen;
  std::string cursor;
  std::vector<size_t> sizes;
  for (int page = 0; page < 10; ++page) {
    auto target = "/v1/state?prefix=state:page:&limit=10"
                  + (cursor.empty() ? "" : "&cursor=" + cursor);
    auto r = c.get(target);
    REQUIRE(r.status == 200);
    auto keys = json_strings(r.body, "keys");
    sizes.push_back(keys.size());
    seen.insert(seen.end(), keys.begin(), keys.end());
    std::smatch m;
    if (!std::regex_search(r.body, m, std::regex{R"re("next_cursor":"([^"]+)")re"})) {
      CHECK(r.body.find("\"next_cursor\":null") != std::string::npos);
      break;
    }
    cursor = m[1];
  }
  CHECK(sizes == std::vector<size_t>{10, 10, 5});
  CHECK(seen == expected);
  auto all = c.get("/v1/state");
  CHECK(json_strings(all.body, "keys").size() == 26);
  CHECK(c.get("/v1/state?limit=0").status == 400);
  CHECK(c.get("/v1/state?limit=ten").status == 400);
  CHECK(c.get("/v1/state?cursor=%21%21").status == 400);
  CHECK(c.get("/v1/state?bogus=1").status == 400);
}

TEST_CASE("batch-get returns values in request order as base64") {
  service_process svc;
  http_client c{svc.port()};
  std::string value = std::string("\x00\x01zz\xfe", 5);
  auto put = c.put("/v1/state/state:b:one", value);
  REQUIRE(put.status == 201);
  REQUIRE(c.put("/v1/state/state:b:two", "2").status == 201);
  auto r = c.request("POST", "/v1/state/batch-get",
                     R"({"keys":["state:b:two","state:b:none","state:b:one"]})");
  REQUIRE(r.status == 200);
  std::smatch m;
  std::regex item{R"re(\{"key":"([^"]*)","value":(null|"[^"]*"),"etag":(null|"(?:\\"|[^"])*")\})re"};
  std::vector<std::smatch> items;
  std::vector<std::string> keys, values, etags;
  for (std::sregex_iterator it{r.body.begin(), r.body.end(), item}, e; it != e; ++it) {
    keys.push_back((*it)[1]);
    values.push_back((*it)[2]);
    etags.push_back((*it)[3]);
  }
  REQUIRE(keys == std::vector<std::string>{"state:b:two", "state:b:none", "state:b:one"});
  CHECK(values[1] == "null");
  CHECK(etags[1] == "null");
  auto decoded = base64_decode(values[2].substr(1, values[2].size() - 2));
  REQUIRE(decoded);
  CHECK(*decoded == value);
  // The JSON etag is the header's ETag, quotes included.
  auto header = put.header("etag");
  CHECK(etags[2] == "\"\\\"" + header.substr(1, header.size() - 2) + "\\\"\"");
  auto malformed = c.request("POST", "/v1/state/batch-get", "{\"keys\":[");
  CHECK(malformed.status == 400);
  CHECK(error_code_of(malformed) == "bad_request");
  CHECK(c.request("POST", "/v1/state/batch-get", "{\"keys\":[1]}").status == 400);
  CHECK(c.request("POST", "/v1/state/batch-get", "{\"keys\":[]}").body
        == R"({"items":[],"unprocessed_keys":[]})");
}

TEST_CASE("single-key requests reach the shard the router would pick") {
  // The gateway sends GET/PUT/DELETE straight to the owning shard; batch-get
  // goes through the router. Both must agree on every key's owner.
  service_process svc{"state:\n  type: memory\n  shards: 4\n"};
  http_client c{svc.port()};
  std::string body = R"({"keys":[)";
  for (int i = 0; i < 32; ++i) {
    auto key = "state:k" + std::to_string(i);
    REQUIRE(c.put("/v1/state/" + key, "v" + std::to_string(i)).status == 201);
    body += (i ? ",\"" : "\"") + key + "\"";
  }
  body += "]}";
  auto r = c.request("POST", "/v1/state/batch-get", body);
  REQUIRE(r.status == 200);
  CHECK(r.body.find("\"value\":null") == std::string::npos);
  REQUIRE(c.del("/v1/state/state:k7").status == 204);
  r = c.request("POST", "/v1/state/batch-get", R"({"keys":["state:k7"]})");
  CHECK(r.body.find("\"value\":null") != std::string::npos);
}

TEST_CASE("typed routes and /v1/state/{key} are two views of one key") {
  service_process svc;
  http_client c{svc.port()};
  std::string data = std::string("order\0bytes\x80", 12);
  REQUIRE(c.put("/v1/orders/eip7683/0xabc", data).status == 201);
  REQUIRE(c.put("/v1/orders/eip7683/0xdef", "d").status == 201);
  REQUIRE(c.put("/v1/orders/other/0x1", "o").status == 201);
  CHECK(c.get("/v1/state/order:eip7683:0xabc").body == data);
  REQUIRE(c.put("/v1/state/order:eip7683:0x777", "via-state").status == 201);
  CHECK(c.get("/v1/orders/eip7683/0x777").body == "via-state");
  auto ids = c.get("/v1/orders/eip7683");
  CHECK(json_strings(ids.body, "ids")
        == std::vector<std::string>{"0x777", "0xabc", "0xdef"});
  REQUIRE(c.put("/v1/fills/0xabc/0xt2", "f2").status == 201);
  REQUIRE(c.put("/v1/fills/0xabc/0xt1", "f1").status == 201);
  CHECK(c.get("/v1/state/fill:0xabc:0xt1").body == "f1");
  CHECK(json_strings(c.get("/v1/fills/0xabc").body, "tx_hashes")
        == std::vector<std::string>{"0xt1", "0xt2"});
  REQUIRE(c.put("/v1/settlements/0xabc/0xc1", "s1").status == 201);
  CHECK(c.get("/v1/state/settlement:0xabc:0xc1").body == "s1");
  CHECK(json_strings(c.get("/v1/settlements/0xabc").body, "claim_hashes")
        == std::vector<std::string>{"0xc1"});
  auto etag = c.get("/v1/orders/eip7683/0xabc").header("etag");
  CHECK(c.get("/v1/state/order:eip7683:0xabc").header("etag") == etag);
  CHECK(c.put("/v1/orders/eip7683/0xabc", "x", {{"If-Match", "\"1\""}}).status
        == 412);
  CHECK(c.del("/v1/orders/eip7683/0xabc", {{"If-Match", etag}}).status == 204);
  CHECK(c.get("/v1/state/order:eip7683:0xabc").status == 404);
  auto colon = c.put("/v1/orders/a%3Ab/1", "x");
  CHECK(colon.status == 400);
  CHECK(error_code_of(colon) == "invalid_key");
  auto wrong = c.del("/v1/fills/0xabc/0xt1");
  CHECK(wrong.status == 405);
  CHECK(wrong.header("allow") == "GET, HEAD, PUT");
  CHECK(json_strings(c.get("/v1/orders/none").body, "ids").empty());
}

TEST_CASE("unknown paths are 404, wrong methods 405") {
  service_process svc;
  http_client c{svc.port()};
  auto nf = c.get("/v2/nothing");
  CHECK(nf.status == 404);
  CHECK(error_code_of(nf) == "not_found");
  CHECK(c.get("/v1/orders/a/b/c").status == 404);
  auto wm = c.request("POST", "/v1/state/k");
  CHECK(wm.status == 405);
  CHECK(error_code_of(wm) == "method_not_allowed");
  CHECK(wm.header("allow") == "GET, HEAD, PUT, DELETE");
  CHECK(c.request("PUT", "/healthz", "x").status == 405);
  auto put_list = c.request("PUT", "/v1/state", "x");
  CHECK(put_list.status == 405);
  CHECK(put_list.header("allow") == "GET, HEAD, DELETE");
  CHECK(c.request("PATCH", "/v1/state/k", "x").status == 405);
}

TEST_CASE("DELETE /v1/state?prefix= deletes the keys under the prefix and "
          "says how many") {
  service_process svc{"state:\n  type: memory\n  shards: 4\n"};
  http_client c{svc.port()};
  for (int i = 0; i < 30; ++i)
    REQUIRE(c.put("/v1/state/sess:a:" + std::to_string(i), "v").status == 201);
  for (auto key : {"sess:a", "sess:a;", "sess:b:1", "sess:a%3A"})
    REQUIRE(c.put(std::string{"/v1/state/"} + key, "v").status == 201);
  // "sess:a%3A" above is the key "sess:a:", under the prefix itself.
  auto r = c.del("/v1/state?prefix=sess%3Aa%3A");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  CHECK(r.body == R"({"deleted":31})");
  CHECK(json_strings(c.get("/v1/state?prefix=sess:").body, "keys")
        == std::vector<std::string>{"sess:a", "sess:a;", "sess:b:1"});
  CHECK(c.get("/v1/state/sess:a:7").status == 404);
  CHECK(c.del("/v1/state?prefix=sess%3Aa%3A").body == R"({"deleted":0})");
  // Refused before anything is deleted: no prefix, an empty one, another
  // parameter.
  for (auto target : {"/v1/state", "/v1/state?prefix=", "/v1/state?prefix",
                      "/v1/state?prefix=sess%3A&limit=2",
                      "/v1/state?prefix=sess%3Ab%3A&prefix=sess%3A",
                      "/v1/state?prefix=sess%3A&prefix="}) {
    INFO(target);
    auto bad = c.del(target);
    CHECK(bad.status == 400);
    CHECK(error_code_of(bad) == "bad_request");
  }
  CHECK(json_strings(c.get("/v1/state?prefix=sess:").body, "keys").size()
        == 3);
}

TEST_CASE("DELETE /v1/state?prefix= deletes more keys than one store call "
          "does, answering once") {
  // 25000 keys: three calls of at most 10000 per shard on one shard.
  service_process svc{
    "state:\n  type: memory\n  shards: 1\n  max_items: 0\n"};
  http_client c{svc.port()};
  constexpr int n = 25'000;
  std::string lines;
  for (int i = 0; i < n; ++i)
    lines += R"({"key":"bulk:)" + std::to_string(i) + R"(","value":"dg=="})"
             + "\n";
  auto imported = c.request("POST", "/v1/import", lines);
  REQUIRE(imported.status == 200);
  REQUIRE(c.put("/v1/state/bulk", "v").status == 201);
  auto r = c.del("/v1/state?prefix=bulk:");
  CHECK(r.status == 200);
  CHECK(r.body == R"({"deleted":25000})");
  CHECK(json_strings(c.get("/v1/state?prefix=bulk").body, "keys")
        == std::vector<std::string>{"bulk"});
}

TEST_CASE("a full store answers 507 capacity_exceeded") {
  service_process svc{"state:\n  max_items: 3\n"};
  http_client c{svc.port()};
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.put("/v1/state/k" + std::to_string(i), "v").status == 201);
  auto full = c.put("/v1/state/k3", "v");
  CHECK(full.status == 507);
  CHECK(error_code_of(full) == "capacity_exceeded");
  CHECK(c.put("/v1/state/k0", "overwrite").status == 204); // replaced
}

TEST_CASE("keep-alive serves many requests on one connection") {
  service_process svc;
  http_client c{svc.port()};
  for (int i = 0; i < 200; ++i)
    REQUIRE(c.put("/v1/state/ka" + std::to_string(i % 7), "v").status ==
            (i < 7 ? 201 : 204)); // created, then replaced
  CHECK(c.connects() == 1);
  auto close = c.request("GET", "/healthz", "", {{"Connection", "close"}});
  CHECK(close.status == 200);
  CHECK_FALSE(close.keep_alive);
}

TEST_CASE("concurrent If-Match writers lose no update") {
  service_process svc;
  constexpr int writers = 6;
  constexpr int increments = 40;
  {
    http_client c{svc.port()};
    REQUIRE(c.put("/v1/state/state:c:counter", "0").status == 201);
  }
  std::atomic<int> conflicts{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&] {
      http_client c{svc.port()};
      for (int i = 0; i < increments; ++i) {
        while (true) {
          auto cur = c.get("/v1/state/state:c:counter");
          if (cur.status != 200) {
            ++failures;
            return;
          }
          auto next = std::to_string(std::stoi(cur.body) + 1);
          auto r = c.put("/v1/state/state:c:counter", next,
                         {{"If-Match", cur.header("etag")}});
          if (r.status == 204)
            break;
          if (r.status != 412) {
            ++failures;
            return;
          }
          ++conflicts;
        }
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(failures == 0);
  http_client c{svc.port()};
  CHECK(c.get("/v1/state/state:c:counter").body
        == std::to_string(writers * increments));
  INFO("conflicts: " << conflicts.load());
}

TEST_CASE("pipelined requests are answered in order") {
  service_process svc;
  auto out = raw_exchange(svc.port(),
                          "PUT /v1/state/p HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 3\r\n\r\nabc"
                          "GET /v1/state/p HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                          std::chrono::seconds{5});
  auto first = out.find("HTTP/1.1 201");
  auto second = out.find("HTTP/1.1 200");
  auto third = out.find("HTTP/1.1 404");
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  CHECK(third != std::string::npos);
  CHECK(first < second);
  CHECK(second < third);
  CHECK(out.find("\r\n\r\nabc") != std::string::npos);
}

TEST_CASE("a corrupt value file: the service starts, its key answers 500 "
          "naming the quarantined file, every other key is served, readiness "
          "and metrics count it") {
  char tmpl[] = "/tmp/solver-state-quarantine-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string base = tmpl;
  struct removed_at_end {
    std::string path;
    ~removed_at_end() { std::filesystem::remove_all(path); }
  } cleanup{base};
  auto yaml = "state:\n  type: file\n  file:\n    base_path: " + base
              + "\n    sync_interval: 100ms\n";
  {
    service_process svc{yaml};
    http_client c{svc.port()};
    for (auto k : {"order:x:1", "order:x:2", "order:x:3"})
      REQUIRE(c.put(std::string{"/v1/state/"} + k, k).status == 201);
    // A checkpoint writes the value files (a stop only syncs the log).
    for (int i = 0; i < 100 && !std::filesystem::exists(base + "/order/x/2.val");
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  {
    // One flipped byte inside the value: its checksum no longer holds.
    std::fstream f(base + "/order/x/2.val",
                   std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp(29);
    f.put('\x7f');
  }
  service_process svc{yaml};
  http_client c{svc.port()};
  auto bad = c.get("/v1/state/order:x:2");
  CHECK(bad.status == 500);
  CHECK(error_code_of(bad.body) == "backend_error");
  CHECK(bad.body.find(base + "/~quarantine/order/x/2.val")
        != std::string::npos);
  CHECK(c.get("/v1/state/order:x:1").body == "order:x:1");
  CHECK(c.get("/v1/state/order:x:3").body == "order:x:3");
  // Ready, and counting it: on /readyz and in the metrics.
  auto ready = c.get("/readyz");
  CHECK(ready.status == 200);
  CHECK(ready.body == R"({"status":"ready","quarantined_values":1,"undecryptable_values":0})");
  const std::string counted = "\nstate_quarantined_values{backend=\"file\"} 1\n";
  bool in_metrics = false; // shards report every sweep_interval (1 s)
  for (int i = 0; i < 50 && !in_metrics; ++i) {
    in_metrics = c.get("/metrics").body.find(counted) != std::string::npos;
    if (!in_metrics)
      std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  CHECK(in_metrics);
  CHECK(svc.log().find("moved it to " + base
                       + "/~quarantine/order/x/2.val (kept)")
        != std::string::npos);
  CHECK(c.put("/v1/state/order:x:2", "again").status == 201);
  CHECK(c.get("/v1/state/order:x:2").body == "again");
  CHECK(c.get("/readyz").body
        == R"({"status":"ready","quarantined_values":0,"undecryptable_values":0})");
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a key that is not UTF-8 is listed as key_base64, and no body "
          "carries a byte JSON text cannot") {
  service_process svc;
  http_client c{svc.port()};
  auto ascii = [](const std::string& body) {
    return std::all_of(body.begin(), body.end(), [](char ch) {
      return static_cast<unsigned char>(ch) < 0x80;
    });
  };
  REQUIRE(c.put("/v1/state/state:u:%FFabc", "v").status == 201);
  REQUIRE(c.put("/v1/state/state:u:plain", "v").status == 201);
  auto page = c.get("/v1/state?prefix=state:u:");
  REQUIRE(page.status == 200);
  CHECK(ascii(page.body));
  CHECK(page.body.find(R"({"key_base64":")"
                       + solver_state::base64_encode("state:u:\xff" "abc")
                       + "\"}")
        != std::string::npos);
  CHECK(page.body.find(R"("state:u:plain")") != std::string::npos);
  // Error messages quote what was asked, bytes and all: as \xNN text.
  auto bad = c.get("/v1/state?x%FF=1");
  CHECK(bad.status == 400);
  CHECK(ascii(bad.body));
  auto missing = c.get("/v1/state/state:u:%FEnone",
                       {{"If-Match", "\"1\""}});
  CHECK(ascii(missing.body));
  CHECK(c.get("/v1/state/state:u:%FFabc").body == "v");
}
