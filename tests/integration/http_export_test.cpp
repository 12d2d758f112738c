// GET /v1/export and POST /v1/import against the real service over TCP:
// round trips between two servers, prefixes, key order, pages across shards,
// all-or-nothing validation, the import's own body limit, absolute expiries,
// duplicate keys, and a file backend's quarantined key.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <memory>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "backends/file/value.hpp"

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
namespace json = boost::json;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The whole export of `prefix` ("" = everything), read as a stream.
std::string export_of(uint16_t port, const std::string& query = "") {
  std::string body;
  auto r = stream_get(port, "/v1/export" + query, [&](std::string_view piece) {
    body.append(piece);
    return true;
  });
  REQUIRE(r.status == 200);
  CHECK(r.headers["content-type"] == "application/x-ndjson");
  CHECK(r.complete);
  return body;
}

std::vector<json::object> lines_of(const std::string& ndjson) {
  std::vector<json::object> out;
  size_t pos = 0;
  while (pos < ndjson.size()) {
    auto end = ndjson.find('\n', pos);
    REQUIRE(end != std::string::npos); // every line ends with '\n'
    out.push_back(json::parse(ndjson.substr(pos, end - pos)).as_object());
    pos = end + 1;
  }
  return out;
}

std::vector<std::string> keys_of(const std::vector<json::object>& lines) {
  std::vector<std::string> out;
  for (auto& l : lines)
    out.emplace_back(l.at("key").as_string().c_str());
  return out;
}

std::string line(const std::string& key, const std::string& base64_value,
                 const std::string& expires = "null") {
  return "{\"key\":\"" + key + "\",\"value\":\"" + base64_value
         + "\",\"expires_at_ms\":" + expires + "}\n";
}

std::string message_of(const http_response& r) {
  return json::parse(r.body).at("error").at("message").as_string().c_str();
}

json::object json_of(const http_response& r) {
  return json::parse(r.body).as_object();
}

const char* file_backend = "state:\n  type: file\n  shards: 3\n"
                           "  file:\n    fsync: never\n";

} // namespace

TEST_CASE("an export imported into a second server gives the same keys, "
          "values and expiries") {
  service_process a{file_backend};
  http_client ca{a.port()};
  REQUIRE(ca.put("/v1/state/order:eip7683:0x1", "first").status == 201);
  REQUIRE(ca.put("/v1/state/state:quoter:binary",
                 std::string("\x00\xff\x01\"\\\n", 6))
            .status
          == 201);
  REQUIRE(ca.put("/v1/state/state:quoter:empty", "").status == 201);
  REQUIRE(ca.put("/v1/state/fill:0x1:0xtx?ttl_seconds=3600", "fill").status
          == 201);
  // Keys are bytes: one that is not UTF-8 travels as key_base64.
  REQUIRE(ca.put("/v1/state/state:raw:%FF%FE", "raw").status == 201);
  REQUIRE(ca.put("/v1/state/state:quote%22d", "q").status == 201);
  auto exported = export_of(a.port());
  auto lines = lines_of(exported);
  REQUIRE(lines.size() == 6);
  CHECK(exported.find("{\"key_base64\":\"") != std::string::npos);
  for (auto& l : lines)
    if (l.contains("key") && l.at("key") == "fill:0x1:0xtx")
      CHECK(l.at("expires_at_ms").as_int64() > now_ms());
    else
      CHECK(l.at("expires_at_ms").is_null());

  service_process b{file_backend};
  http_client cb{b.port()};
  auto imported = cb.request("POST", "/v1/import", exported);
  REQUIRE(imported.status == 200);
  CHECK(json_of(imported).at("imported").as_int64() == 6);
  CHECK(json_of(imported).at("expired").as_int64() == 0);
  // Byte for byte: same keys in the same order, same values, and the very
  // same absolute expiry.
  CHECK(export_of(b.port()) == exported);
  auto binary = cb.get("/v1/state/state:quoter:binary");
  CHECK(binary.body == std::string("\x00\xff\x01\"\\\n", 6));
  CHECK(cb.get("/v1/state/state:raw:%FF%FE").body == "raw");
  CHECK(cb.get("/v1/state/state:quoter:empty").status == 200);
  CHECK(a.stop(SIGTERM) == 0);
  CHECK(b.stop(SIGTERM) == 0);
}

TEST_CASE("export takes a prefix and writes keys in byte order") {
  service_process svc{"state:\n  type: memory\n  shards: 4\n"};
  http_client c{svc.port()};
  for (auto k : {"order:b:2", "state:x", "order:a:1", "order:b:10", "orders",
                 "order:", "fill:1:2"})
    REQUIRE(c.put(std::string{"/v1/state/"} + k, k).status == 201);
  auto all = keys_of(lines_of(export_of(svc.port())));
  CHECK(all
        == std::vector<std::string>{"fill:1:2", "order:", "order:a:1",
                                    "order:b:10", "order:b:2", "orders",
                                    "state:x"});
  CHECK(keys_of(lines_of(export_of(svc.port(), "?prefix=order%3A")))
        == std::vector<std::string>{"order:", "order:a:1", "order:b:10",
                                    "order:b:2"});
  CHECK(export_of(svc.port(), "?prefix=nothing").empty());
  auto bad = c.get("/v1/export?limit=5");
  CHECK(bad.status == 400);
  CHECK(error_code_of(bad.body) == "bad_request");
  SECTION("over HTTP/1.0 an export is refused: a transfer cut short could "
          "not be told from a whole one") {
    auto out = raw_exchange(svc.port(),
                            "GET /v1/export HTTP/1.0\r\nHost: x\r\n\r\n",
                            std::chrono::seconds{5});
    CHECK(out.rfind("HTTP/1.0 400", 0) == 0);
    CHECK_THAT(out, Catch::Contains("\"code\":\"bad_request\"")
                      && Catch::Contains("an export needs HTTP/1.1"));
    CHECK(out.find("state:x") == std::string::npos); // no line of the store
  }
  SECTION("HEAD answers GET's status and headers without a body") {
    auto head = c.request("HEAD", "/v1/export");
    CHECK(head.status == 200);
    CHECK(head.header("content-type") == "application/x-ndjson");
    CHECK(head.body.empty());
    // The connection is still good for the next request.
    CHECK(c.get("/v1/state/state:x").body == "state:x");
  }
  SECTION("other methods are 405 with Allow") {
    auto post = c.request("POST", "/v1/export", "x");
    CHECK(post.status == 405);
    CHECK(post.header("allow") == "GET, HEAD");
    auto get = c.get("/v1/import");
    CHECK(get.status == 405);
    CHECK(get.header("allow") == "POST");
  }
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("an export of many keys runs page by page across shards, also "
          "when batch-get replies leave keys unprocessed") {
  // 300 bytes per reply: a value of 120 bytes leaves most of every batch
  // unprocessed, so the export asks again and again within each page.
  service_process svc{"state:\n  type: memory\n  shards: 4\n"
                      "  max_items: 0\nhttp:\n  max_reply_bytes: 300\n"};
  http_client c{svc.port()};
  constexpr int n = 2'500;
  std::string body;
  // base64 of 120 bytes is 160 characters.
  std::string value(160, 'A');
  for (int i = n - 1; i >= 0; --i) {
    char key[32];
    std::snprintf(key, sizeof key, "state:k:%06d", i);
    body += line(key, value);
  }
  auto r = c.request("POST", "/v1/import", body);
  REQUIRE(r.status == 200);
  CHECK(json_of(r).at("imported").as_int64() == n);
  auto keys = keys_of(lines_of(export_of(svc.port())));
  REQUIRE(keys.size() == n);
  for (int i = 0; i < n; ++i) {
    char key[32];
    std::snprintf(key, sizeof key, "state:k:%06d", i);
    REQUIRE(keys[static_cast<size_t>(i)] == key);
  }
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a bad line anywhere refuses the whole import, naming the line, "
          "and writes nothing") {
  service_process svc{"state:\n  type: memory\n  max_value_bytes: 4\n"};
  http_client c{svc.port()};
  auto good = line("state:a", "YQ==") + line("state:b", "Yg==");
  auto refused = [&](const std::string& bad, const std::string& why) {
    auto r = c.request("POST", "/v1/import", good + bad + line("state:c", ""));
    CHECK(r.status == 400);
    CHECK(error_code_of(r.body) == "bad_request");
    CHECK_THAT(message_of(r), Catch::Contains("line 3: ")
                                && Catch::Contains(why));
  };
  refused("{\"key\":\"state:x\"\n", "malformed JSON");
  refused("[1,2]\n", "not a JSON object");
  refused(line("", "YQ=="), "invalid key");
  refused(line("state:\\u0001", "YQ=="), "control byte");
  refused(line("state:x", "not base64!"), "not valid base64");
  refused(line("state:x", "YWJjZGU="), "state.max_value_bytes is 4");
  refused(line("state:x", "YQ==", "\"soon\""), "expires_at_ms");
  refused(line("state:x", "YQ==", "1.5"), "expires_at_ms");
  refused(line("state:x", "YQ==", "-3"), "expires_at_ms");
  refused("{\"key\":\"state:x\",\"value\":\"YQ==\",\"expires_at\":1}\n",
          "unknown member \"expires_at\"");
  refused("{\"value\":\"YQ==\"}\n", "exactly one of");
  refused("\n", "empty line");
  // Far down, past the first slice of lines the service checks at once.
  std::string long_body;
  for (int i = 0; i < 40'000; ++i)
    long_body += line("state:many:" + std::to_string(i), "YQ==");
  auto far = c.request("POST", "/v1/import",
                       long_body + line("state:x", "YQ=", "null") + good);
  CHECK(far.status == 400);
  CHECK_THAT(message_of(far), Catch::StartsWith("nothing imported: line "
                                                "40001: "));
  // Nothing of the good lines before or after was written.
  CHECK(c.get("/v1/state/state:a").status == 404);
  CHECK(c.get("/v1/state?prefix=state").body
        == "{\"keys\":[],\"next_cursor\":null}");
  // The same lines without the bad one, with trailing blank lines, import.
  auto ok = c.request("POST", "/v1/import", good + "\n\r\n");
  CHECK(ok.status == 200);
  CHECK(json_of(ok).at("imported").as_int64() == 2);
  CHECK(c.get("/v1/state/state:b").body == "b");
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("an import has its own body limit, http.max_import_bytes") {
  service_process svc{"state:\n  type: memory\nhttp:\n  max_body_bytes: 1000\n"
                      "  max_import_bytes: 20000\n"};
  std::string body;
  for (int i = 0; body.size() < 15'000; ++i)
    body += line("state:k:" + std::to_string(i), "YWJj");
  http_client c{svc.port()};
  // Over max_body_bytes, within max_import_bytes: taken.
  auto ok = c.request("POST", "/v1/import", body);
  CHECK(ok.status == 200);
  // Other routes keep max_body_bytes.
  auto put = c.put("/v1/state/state:big", std::string(2'000, 'x'));
  CHECK(put.status == 413);
  CHECK_THAT(message_of(put), Catch::Contains("http.max_body_bytes=1000"));
  body += body;
  http_client c2{svc.port()};
  auto big = c2.request("POST", "/v1/import", body);
  CHECK(big.status == 413);
  CHECK(error_code_of(big.body) == "payload_too_large");
  CHECK_THAT(message_of(big), Catch::Contains("http.max_import_bytes=20000"));
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("request bodies held at once stay within "
          "http.max_pending_body_bytes: counted as they arrive, a large "
          "import is 503 once it would pass it") {
  // Only each body was bounded: eight imports held one byte short of
  // complete took the service from 31 MB to 562 MB. Found by review.
  service_process svc{"state:\n  type: memory\nhttp:\n"
                      "  max_import_bytes: 3145728\n"
                      "  max_pending_body_bytes: 4194304\n"};
  std::string body;
  for (int i = 0; i < 10; ++i)
    body += line("state:imp:" + std::to_string(i), std::string(260'000, 'A'));
  REQUIRE(body.size() > 2'600'000);
  auto head = [&](const std::string& extra) {
    return "POST /v1/import HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
           + extra + "\r\n";
  };
  auto length = "Content-Length: " + std::to_string(body.size()) + "\r\n";
  http_client c{svc.port()};

  // Headers alone hold no more than what a body reserves on them. Found by
  // review of the first budget, which counted a Content-Length whole: four
  // headers announcing imports, no body after them, held the whole budget
  // and every larger write was 503 until read_timeout.
  {
    std::vector<std::unique_ptr<raw_socket>> announced;
    for (int i = 0; i < 4; ++i) {
      announced.push_back(std::make_unique<raw_socket>(svc.port()));
      REQUIRE(announced.back()->send(head(length)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    auto beside = c.request("POST", "/v1/import", body);
    INFO(beside.body);
    CHECK(beside.status == 200);
  }

  // The first import, held half sent: what arrived is counted.
  raw_socket first{svc.port()};
  REQUIRE(first.send(head(length) + body.substr(0, body.size() / 2)));
  std::this_thread::sleep_for(std::chrono::milliseconds{300});

  // The second: refused once its body would pass the budget.
  raw_socket second{svc.port()};
  second.send(head(length) + body); // may be cut short by the refusal
  auto refused = second.receive(std::chrono::seconds{5});
  CHECK(refused.rfind("HTTP/1.1 503", 0) == 0);
  CHECK_THAT(refused, Catch::Contains("Retry-After: 1")
                        && Catch::Contains("backend_unavailable")
                        && Catch::Contains("http.max_pending_body_bytes="
                                           "4194304")
                        && Catch::Contains("bytes so far would pass it"));

  // A chunked import is counted as it grows, and refused once it would
  // pass the budget.
  raw_socket chunked{svc.port()};
  REQUIRE(chunked.send(head("Transfer-Encoding: chunked\r\n")));
  const std::string piece(64 * 1024, 'A');
  for (int i = 0; i < 32; ++i)
    if (!chunked.send("10000\r\n" + piece + "\r\n"))
      break; // refused and closed
  auto grown = chunked.receive(std::chrono::seconds{5});
  CHECK(grown.rfind("HTTP/1.1 503", 0) == 0);
  CHECK_THAT(grown, Catch::Contains("http.max_pending_body_bytes=4194304")
                      && Catch::Contains("bytes so far would pass it"));

  // An ordinary write fits beside the held import.
  CHECK(c.put("/v1/state/state:small", std::string(500'000, 'x')).status
        == 201);

  // The first import completes.
  REQUIRE(first.send(body.substr(body.size() / 2)));
  auto done = first.receive(std::chrono::seconds{10});
  CHECK(done.rfind("HTTP/1.1 200", 0) == 0);
  CHECK_THAT(done, Catch::Contains("{\"imported\":10,\"expired\":0}"));
  // Its body no longer counted, the second goes through.
  auto again = c.request("POST", "/v1/import", body);
  CHECK(again.status == 200);

  // A stream's request body is let go once it starts. Found by review: two
  // watches sent with 900 KB bodies each held them for the streams' life,
  // and an import beside them was 503.
  std::vector<std::unique_ptr<raw_socket>> watches;
  for (int i = 0; i < 2; ++i) {
    watches.push_back(std::make_unique<raw_socket>(svc.port()));
    REQUIRE(watches.back()->send(
      "GET /v1/watch?prefix=w HTTP/1.1\r\nHost: t\r\nContent-Length: "
      "900000\r\n\r\n" + std::string(900'000, 'w')));
    CHECK(watches.back()->receive(std::chrono::milliseconds{700})
            .rfind("HTTP/1.1 200", 0)
          == 0);
  }
  auto beside_watches = c.request("POST", "/v1/import", body);
  INFO(beside_watches.body);
  CHECK(beside_watches.status == 200);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("an imported expiry is the absolute time it was exported with") {
  service_process svc{file_backend};
  http_client c{svc.port()};
  auto expires = now_ms() + 2'000;
  auto past = now_ms() - 1;
  auto r = c.request("POST", "/v1/import",
                     line("state:short", "c2hvcnQ=", std::to_string(expires))
                       + line("state:gone", "Z29uZQ==", std::to_string(past))
                       + line("state:kept", "a2VwdA=="));
  REQUIRE(r.status == 200);
  CHECK(json_of(r).at("imported").as_int64() == 2);
  CHECK(json_of(r).at("expired").as_int64() == 1);
  CHECK(c.get("/v1/state/state:short").body == "short");
  CHECK(c.get("/v1/state/state:gone").status == 404);
  auto lines = lines_of(export_of(svc.port()));
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].at("key") == "state:short");
  CHECK(lines[1].at("expires_at_ms").as_int64() == expires);
  CHECK(lines[0].at("expires_at_ms").is_null());
  // Expiry is checked on every read: once the time has passed the key is
  // gone, whatever the sweep does.
  while (now_ms() <= expires + 50)
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  CHECK(c.get("/v1/state/state:short").status == 404);
  CHECK(c.get("/v1/state/state:kept").status == 200);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("an import passes over expired lines a slice per step, and "
          "imports the lines after them") {
  // 40,000 expired lines (more than two steps' slices), live lines between
  // and after them: every live one is written, every expired one counted.
  service_process svc{"state:\n  type: memory\n  shards: 2\n  max_items: 0\n"};
  http_client c{svc.port()};
  auto past = std::to_string(now_ms() - 1);
  std::string body;
  int live = 0;
  for (int i = 0; i < 40'000; ++i) {
    body += line("state:old:" + std::to_string(i), "b2xk", past);
    if (i % 10'000 == 9'999)
      body += line("state:live:" + std::to_string(live++), "bGl2ZQ==");
  }
  body += line("state:live:" + std::to_string(live++), "bGl2ZQ==");
  auto r = c.request("POST", "/v1/import", body);
  REQUIRE(r.status == 200);
  CHECK(json_of(r).at("imported").as_int64() == live);
  CHECK(json_of(r).at("expired").as_int64() == 40'000);
  for (int i = 0; i < live; ++i)
    CHECK(c.get("/v1/state/state:live:" + std::to_string(i)).body == "live");
  CHECK(c.get("/v1/state/state:old:0").status == 404);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a key named twice in one import ends with its last line") {
  service_process svc{"state:\n  type: memory\n  shards: 2\n"};
  http_client c{svc.port()};
  std::string body;
  for (int round = 0; round < 50; ++round)
    for (int k = 0; k < 10; ++k)
      body += line("state:dup:" + std::to_string(k),
                   round % 2 == 0 ? "ZXZlbg==" : "b2Rk"); // even, odd
  auto r = c.request("POST", "/v1/import", body);
  REQUIRE(r.status == 200);
  CHECK(json_of(r).at("imported").as_int64() == 500);
  for (int k = 0; k < 10; ++k)
    CHECK(c.get("/v1/state/state:dup:" + std::to_string(k)).body == "odd");
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a key whose last line in an import is expired ends gone, also "
          "when an earlier line wrote it") {
  service_process svc{"state:\n  type: memory\n  shards: 2\n"};
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/d:2", "kept").status == 201);
  auto r = c.request("POST", "/v1/import",
                     line("d:1", "Zmlyc3Q=")          // first
                       + line("d:1", "c2Vjb25k", "1000") // second, expired
                       + line("d:2", "c2Vjb25k", "1000")
                       + line("d:3", "Zmlyc3Q=")
                       + line("d:3", "c2Vjb25k", "1000")
                       + line("d:3", "dGhpcmQ=")); // third
  REQUIRE(r.status == 200);
  CHECK(json_of(r).at("imported").as_int64() == 3);
  CHECK(json_of(r).at("expired").as_int64() == 3);
  // The value the earlier line wrote does not outlive the expired one.
  CHECK(c.get("/v1/state/d:1").status == 404);
  // A key no line of the import wrote is left as it was.
  CHECK(c.get("/v1/state/d:2").body == "kept");
  // A line after the expired one writes the key again.
  CHECK(c.get("/v1/state/d:3").body == "third");
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("export and import count in the metrics under their routes") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  REQUIRE(c.request("POST", "/v1/import", line("state:a", "YQ==")).status
          == 200);
  export_of(svc.port());
  auto counted = [&](const std::string& text) {
    return text.find("http_requests_total{route=\"/v1/export\",method=\"GET\","
                     "status=\"200\"} 1")
             != std::string::npos
           && text.find("http_requests_total{route=\"/v1/import\","
                        "method=\"POST\",status=\"200\"} 1")
                != std::string::npos;
  };
  // The gateway reports once a second: poll (bounded, not timed).
  std::string text;
  for (int i = 0; i < 50 && !counted(text = c.get("/metrics").body); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  INFO(text);
  CHECK(counted(text));
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("export and import need the bearer token") {
  service_process svc{"state:\n  type: memory\nhttp:\n  auth_token: s3cret\n"};
  http_client c{svc.port()};
  CHECK(c.get("/v1/export").status == 401);
  CHECK(c.request("POST", "/v1/import", line("state:a", "YQ==")).status
        == 401);
  auto r = c.request("POST", "/v1/import", line("state:a", "YQ=="),
                     {{"Authorization", "Bearer s3cret"}});
  CHECK(r.status == 200);
  std::string body;
  auto e = stream_get(
    svc.port(), "/v1/export",
    [&](std::string_view piece) {
      body.append(piece);
      return true;
    },
    {{"Authorization", "Bearer s3cret"}});
  CHECK(e.status == 200);
  CHECK(body == line("state:a", "YQ=="));
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("http.request_timeout bounds each step of an export or an import, "
          "not the whole") {
  service_process svc{"state:\n  type: memory\n  shards: 2\n  max_items: 0\n"
                      "http:\n  request_timeout: 300ms\n"};
  http_client c{svc.port()};
  // 150,000 writes in one import take longer than 300 ms on any machine
  // this runs on; each of them takes far less.
  std::string body;
  std::string value(1'368, 'A'); // 1,026 bytes once decoded
  constexpr int n = 20'000;
  for (int i = 0; i < n; ++i)
    body += line("state:big:" + std::to_string(i), value);
  for (int i = 0; i < 130'000; ++i)
    body += line("state:small:" + std::to_string(i), "YQ==");
  auto r = c.request("POST", "/v1/import", body);
  REQUIRE(r.status == 200);
  CHECK(json_of(r).at("imported").as_int64() == n + 130'000);
  // A reader that pauses for five timeouts still gets everything: the
  // deadline does not run while the service waits for the socket.
  size_t bytes = 0;
  size_t lines = 0;
  bool paused = false;
  auto e = stream_get(svc.port(), "/v1/export?prefix=state%3Abig%3A",
                      [&](std::string_view piece) {
                        bytes += piece.size();
                        lines += static_cast<size_t>(
                          std::count(piece.begin(), piece.end(), '\n'));
                        if (!paused) {
                          paused = true;
                          std::this_thread::sleep_for(
                            std::chrono::milliseconds{1'500});
                        }
                        return true;
                      });
  CHECK(e.status == 200);
  CHECK(e.complete);
  CHECK(lines == n);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a reader that keeps reading, however slowly, gets a chunk that "
          "takes longer than http.read_timeout to write, the timeout bounding "
          "a pause, not a chunk") {
  service_process svc{"state:\n  type: memory\n"
                      "http:\n  read_timeout: 500ms\n"};
  http_client c{svc.port()};
  // 12 MB of values: one page, one chunk of 16 MB of lines, far more
  // than the sockets buffer between the service and this reader.
  constexpr int n = 12;
  for (int i = 0; i < n; ++i)
    REQUIRE(c.put("/v1/state/state:slow:" + std::to_string(i),
                  std::string(1'000'000, static_cast<char>('a' + i)))
              .status
            == 201);
  size_t lines = 0;
  auto started = std::chrono::steady_clock::now();
  auto e = stream_get(svc.port(), "/v1/export?prefix=state%3Aslow%3A",
                      [&](std::string_view piece) {
                        lines += static_cast<size_t>(
                          std::count(piece.begin(), piece.end(), '\n'));
                        // At most 256 KiB per 40 ms: ~6 MB/s.
                        std::this_thread::sleep_for(
                          std::chrono::milliseconds{40});
                        return true;
                      });
  auto took = std::chrono::steady_clock::now() - started;
  INFO(e.error);
  CHECK(e.status == 200);
  CHECK(e.complete);
  CHECK(lines == n);
  // The reading took longer than the timeout: a bound over the whole chunk
  // would have cut it.
  CHECK(took > std::chrono::milliseconds{1'000});
}

TEST_CASE("a client that leaves mid-export ends it, and the service serves "
          "on") {
  service_process svc{"state:\n  type: memory\n  max_items: 0\n"
                      "log:\n  level: debug\n"};
  http_client c{svc.port()};
  std::string body;
  std::string value(1'368, 'A');
  // An export of 27 MB: more than the sockets buffer.
  for (int i = 0; i < 20'000; ++i)
    body += line("state:k:" + std::to_string(i), value);
  REQUIRE(c.request("POST", "/v1/import", body).status == 200);
  auto e = stream_get(svc.port(), "/v1/export",
                      [](std::string_view) { return false; });
  CHECK(e.status == 200);
  CHECK_FALSE(e.complete);
  auto id = e.headers["x-request-id"];
  REQUIRE_FALSE(id.empty());
  // The service notices at its next write and asks the store for nothing
  // more; poll its log for that (bounded, not timed).
  auto ended = [&] {
    auto log = svc.log();
    return log.find("stream ended by the connection") != std::string::npos
           && log.find("request_id=" + id) != std::string::npos;
  };
  for (int i = 0; i < 100 && !ended(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  CHECK(ended());
  CHECK(c.get("/v1/state/state:k:7").status == 200);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a service told to stop breaks off an export in progress and "
          "exits cleanly") {
  service_process svc{"state:\n  type: memory\n  max_items: 0\n"};
  http_client c{svc.port()};
  std::string body;
  std::string value(1'368, 'A');
  for (int i = 0; i < 20'000; ++i) // 27 MB: still streaming at the signal
    body += line("state:k:" + std::to_string(i), value);
  REQUIRE(c.request("POST", "/v1/import", body).status == 200);
  bool signalled = false;
  size_t bytes = 0;
  auto e = stream_get(svc.port(), "/v1/export", [&](std::string_view piece) {
    bytes += piece.size();
    if (!signalled) {
      signalled = true;
      svc.signal(SIGTERM);
    }
    return true;
  });
  CHECK(e.status == 200);
  CHECK_FALSE(e.complete);
  CHECK(bytes < 27'000'000);
  CHECK(svc.stop(SIGTERM) == 0);
  CHECK(svc.log().find("the service is stopping") != std::string::npos);
}

TEST_CASE("an import with more writes than http.max_in_flight waits for its "
          "own and writes every line") {
  service_process svc{"state:\n  type: memory\n  shards: 2\n"
                      "http:\n  max_in_flight: 4\n"};
  http_client c{svc.port()};
  std::string body;
  for (int i = 0; i < 2'000; ++i)
    body += line("state:w:" + std::to_string(i), "dg==");
  auto r = c.request("POST", "/v1/import", body);
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json_of(r).at("imported").as_int64() == 2'000);
  CHECK(c.get("/v1/state/state:w:1999").body == "v");
  CHECK(lines_of(export_of(svc.port())).size() == 2'000);
  CHECK(svc.stop(SIGTERM) == 0);
}

// The file backend dropped a quarantined key from its listings while its
// reads kept answering 500: every export after the one whose read found the
// damage (every export, when start-up's scan found it) completed with 200
// without the key, skip_unreadable counting 0, and a delete by prefix
// answered success leaving it behind (found by review).
TEST_CASE("a quarantined key fails every export, or is counted as skipped, "
          "until a delete by prefix settles it") {
  char tmpl[] = "/tmp/solver-state-export-quarantine-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string base = tmpl;
  struct removed_at_end {
    std::string path;
    ~removed_at_end() { std::filesystem::remove_all(path); }
  } cleanup{base};
  auto yaml = "state:\n  type: file\n  shards: 2\n  file:\n    base_path: "
              + base + "\n    sync_interval: 100ms\n";
  {
    service_process svc{yaml};
    http_client c{svc.port()};
    for (auto k : {"q:1", "q:2", "q:3"})
      REQUIRE(c.put(std::string{"/v1/state/"} + k, k).status == 201);
    // A checkpoint writes the value files (a stop only syncs the log).
    for (int i = 0; i < 100 && !std::filesystem::exists(base + "/q/2.val");
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  {
    // One flipped byte inside the value: its checksum no longer holds.
    std::fstream f(base + "/q/2.val",
                   std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f);
    f.seekp(solver_state::value_header_bytes + 1);
    f.put('\x7f');
  }
  SECTION("found by start-up's scan of the tree") {
    for (auto& e : std::filesystem::directory_iterator(base))
      if (e.path().filename().string().rfind("~index-", 0) == 0)
        std::filesystem::remove(e.path());
  }
  SECTION("found by the first export's read") {
  }
  service_process svc{yaml};
  http_client c{svc.port()};
  for (int round = 1; round <= 2; ++round) {
    INFO("export " << round);
    auto refused = c.get("/v1/export?prefix=q:");
    CHECK(refused.status == 500);
    CHECK_THAT(refused.body, Catch::Contains("key q:2"));
    std::string body;
    auto skipping = stream_get(svc.port(),
                               "/v1/export?prefix=q:&skip_unreadable=true",
                               [&](std::string_view piece) {
                                 body.append(piece);
                                 return true;
                               });
    CHECK(skipping.status == 200);
    CHECK(skipping.complete);
    CHECK(keys_of(lines_of(body)) == std::vector<std::string>{"q:1", "q:3"});
    CHECK(skipping.headers["x-unreadable-skipped"] == "1");
  }
  CHECK_THAT(svc.log(), Catch::Contains("moved it to " + base
                                        + "/~quarantine/q/2.val (kept)"));
  auto listed = json_of(c.get("/v1/state?prefix=q:"));
  CHECK(listed.at("keys").as_array().size() == 3);
  // Deleting the key is the way to clear it, by prefix too.
  auto deleted = c.del("/v1/state?prefix=q:");
  CHECK(deleted.status == 200);
  CHECK(deleted.body == R"({"deleted":3})");
  CHECK(c.get("/v1/state/q:2").status == 404);
  CHECK_THAT(c.get("/readyz").body,
             Catch::Contains(R"("quarantined_values":0)"));
  CHECK(export_of(svc.port(), "?prefix=q:").empty());
  CHECK(svc.stop(SIGTERM) == 0);
}
