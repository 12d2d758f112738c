// HTTP by the RFC (RFC 9110): HEAD, Date, If-Match forms, 431, Allow on
// every 405, X-Request-Id. The real build/solver-state over loopback, raw
// bytes where a client library would hide what is on the wire.

#include <catch2/catch.hpp>

#include <ctime>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

/// The response at the front of raw bytes: its status and header fields
/// (lower-case names), and the bytes after its blank line.
struct raw_head {
  unsigned status = 0;
  std::map<std::string, std::string> fields;
  std::string rest;

  std::string field(const std::string& name) const {
    auto it = fields.find(name);
    return it == fields.end() ? std::string{} : it->second;
  }
};

raw_head split_head(const std::string& wire) {
  raw_head out;
  auto end = wire.find("\r\n\r\n");
  if (wire.rfind("HTTP/1.", 0) != 0 || end == std::string::npos)
    return out;
  out.status = static_cast<unsigned>(std::stoul(wire.substr(9, 3)));
  auto pos = wire.find("\r\n") + 2;
  while (pos < end) {
    auto eol = wire.find("\r\n", pos);
    auto line = wire.substr(pos, eol - pos);
    auto colon = line.find(':');
    auto name = line.substr(0, colon);
    for (auto& ch : name)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    out.fields[name] = value;
    pos = eol + 2;
  }
  out.rest = wire.substr(end + 4);
  return out;
}

/// `method target` on a fresh connection, then GET /healthz on the same
/// one: what follows the first answer's header must be the second answer,
/// so a body sent after a HEAD answer shows up as bytes in between.
raw_head exchange_then_healthz(uint16_t port, const std::string& method,
                               const std::string& target,
                               const std::string& extra_headers = "") {
  return split_head(raw_exchange(port,
                                 method + " " + target
                                   + " HTTP/1.1\r\nHost: x\r\n"
                                   + extra_headers
                                   + "\r\n"
                                     "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                     "Connection: close\r\n\r\n",
                                 5s));
}

} // namespace

TEST_CASE("a PUT that creates a key answers 201, one that replaces 204, on "
          "every write route") {
  service_process svc;
  http_client c{svc.port()};
  for (std::string path : {"/v1/state/state:c:k", "/v1/orders/t/o1",
                           "/v1/fills/o1/0xt", "/v1/settlements/o1/0xc"}) {
    INFO(path);
    auto created = c.put(path, "v1");
    CHECK(created.status == 201);
    CHECK_FALSE(created.header("etag").empty());
    auto replaced = c.put(path, "v2");
    CHECK(replaced.status == 204);
    CHECK(replaced.header("etag") != created.header("etag"));
  }
  // After a delete, and once a TTL has passed, the key is created anew.
  REQUIRE(c.del("/v1/state/state:c:k").status == 204);
  CHECK(c.put("/v1/state/state:c:k", "v3").status == 201);
  CHECK(c.put("/v1/state/state:c:k", "v4", {{"If-None-Match", "*"}}).status ==
        412);
  REQUIRE(c.put("/v1/state/state:c:t?ttl_seconds=1", "x").status == 201);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (c.get("/v1/state/state:c:t").status == 200 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  CHECK(c.put("/v1/state/state:c:t", "y").status == 201);
}

TEST_CASE("If-Match takes * and lists on writes, and weak tags never match") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  auto key = std::string{"/v1/state/state:c:im"};
  // "*": the key must exist.
  auto absent = c.put(key, "x", {{"If-Match", "*"}});
  CHECK(absent.status == 412);
  CHECK(error_code_of(absent.body) == "version_mismatch");
  CHECK(c.del(key, {{"If-Match", "*"}}).status == 412);
  CHECK(c.get(key).status == 404); // the 412 wrote nothing
  // "0" is no version this service hands out: it matches nothing.
  CHECK(c.put(key, "x", {{"If-Match", "\"0\""}}).status == 412);
  CHECK(c.del(key, {{"If-Match", "\"0\""}}).status == 412);
  CHECK(c.get(key).status == 404);
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
  REQUIRE(c.put(key, "again").status == 201);
  CHECK(c.del(key, {{"If-Match", "*"}}).status == 204);
  CHECK(c.get(key).status == 404);
  // Typed routes share the rules.
  REQUIRE(c.put("/v1/orders/t/1", "o").status == 201);
  CHECK(c.put("/v1/orders/t/1", "o2", {{"If-Match", "*"}}).status == 204);
  CHECK(c.put("/v1/fills/o/none", "f", {{"If-Match", "*"}}).status == 412);
}

// Found by review: only the first If-Match line was read, so `If-Match:
// "1"` and `If-Match: <current>` was 412.
TEST_CASE("several If-Match or If-None-Match lines are one list") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  auto v1 = c.put("/v1/state/state:c:two", "v1").header("etag");
  REQUIRE(!v1.empty());
  auto put = split_head(raw_exchange(
    svc.port(),
    "PUT /v1/state/state:c:two HTTP/1.1\r\nHost: x\r\n"
    "If-Match: \"1\"\r\nIf-Match: "
      + v1 + "\r\nContent-Length: 2\r\nConnection: close\r\n\r\nv2",
    5s));
  CHECK(put.status == 204);
  auto v2 = put.field("etag");
  CHECK(c.get("/v1/state/state:c:two").body == "v2");
  // On a GET too, both headers.
  auto get = [&](const std::string& field, const std::string& second) {
    return split_head(raw_exchange(
      svc.port(),
      "GET /v1/state/state:c:two HTTP/1.1\r\nHost: x\r\n" + field
        + ": \"1\"\r\n" + field + ": " + second
        + "\r\nConnection: close\r\n\r\n",
      5s));
  };
  CHECK(get("If-Match", v2).status == 200);
  CHECK(get("If-Match", v1).status == 412);
  CHECK(get("If-None-Match", v2).status == 304);
  CHECK(get("If-None-Match", v1).status == 200);
  // A DELETE: none of the lines holds the current version.
  auto del = split_head(raw_exchange(
    svc.port(),
    "DELETE /v1/state/state:c:two HTTP/1.1\r\nHost: x\r\n"
    "If-Match: \"1\"\r\nIf-Match: "
      + v1 + "\r\nConnection: close\r\n\r\n",
    5s));
  CHECK(del.status == 412);
  // "*" joined to a tag is "*" inside a list: malformed, as on one line.
  auto star = split_head(raw_exchange(
    svc.port(),
    "DELETE /v1/state/state:c:two HTTP/1.1\r\nHost: x\r\n"
    "If-Match: *\r\nIf-Match: "
      + v2 + "\r\nConnection: close\r\n\r\n",
    5s));
  CHECK(star.status == 400);
  CHECK(c.get("/v1/state/state:c:two").body == "v2");
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

TEST_CASE("HEAD answers as GET would, with no body, on every GET route") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state:h:k", "some value").status == 201);
  REQUIRE(c.put("/v1/orders/t/1", "order").status == 201);
  REQUIRE(c.put("/v1/fills/o/tx", "fill").status == 201);
  REQUIRE(c.put("/v1/settlements/o/cl", "settlement").status == 201);
  for (std::string target :
       {"/healthz", "/readyz", "/v1/state?prefix=state:", "/v1/state/state:h:k",
        "/v1/state/state:h:absent", "/v1/state/batch-get", "/v1/orders/t",
        "/v1/orders/t/1", "/v1/fills/o", "/v1/fills/o/tx", "/v1/settlements/o",
        "/v1/settlements/o/cl", "/v1/orders/t/bad%3Aid", "/v1/state?limit=0"}) {
    INFO("HEAD " << target);
    auto get = c.get(target);
    auto head = exchange_then_healthz(svc.port(), "HEAD", target);
    CHECK(head.status == get.status);
    CHECK(head.field("content-length") == std::to_string(get.body.size()));
    CHECK(head.field("content-type") == get.header("content-type"));
    CHECK(head.field("etag") == get.header("etag"));
    // No body: the next answer follows the blank line at once.
    CHECK(head.rest.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  }
  SECTION("metrics, a conditional HEAD, and the client library") {
    auto metrics = exchange_then_healthz(svc.port(), "HEAD", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(std::stoul(metrics.field("content-length")) > 0);
    CHECK(metrics.rest.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    auto etag = c.get("/v1/state/state:h:k").header("etag");
    auto not_modified = exchange_then_healthz(
      svc.port(), "HEAD", "/v1/state/state:h:k",
      "If-None-Match: " + etag + "\r\n");
    CHECK(not_modified.status == 304);
    CHECK(not_modified.field("etag") == etag);
    CHECK(not_modified.field("content-length").empty());
    auto r = c.request("HEAD", "/v1/state/state:h:k");
    CHECK(r.status == 200);
    CHECK(r.body.empty());
    CHECK(r.keep_alive);
    CHECK(c.get("/healthz").status == 200); // the connection is still in step
    // Counted under its own method label (flushed once a second).
    bool counted = false;
    for (int i = 0; i < 50 && !counted; ++i) {
      counted = c.get("/metrics").body.find("method=\"HEAD\"")
                != std::string::npos;
      if (!counted)
        std::this_thread::sleep_for(100ms);
    }
    CHECK(counted);
  }
}

TEST_CASE("every route answers a wrong method with 405 and Allow") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  const std::string get_head = "GET, HEAD";
  const std::vector<std::pair<std::string, std::string>> routes{
    {"/healthz", get_head},
    {"/readyz", get_head},
    {"/metrics", get_head},
    {"/v1/state", "GET, HEAD, DELETE"},
    {"/v1/state/k", "GET, HEAD, PUT, DELETE"},
    // Only POST makes this the batch route; other methods name key
    // "batch-get".
    {"/v1/state/batch-get", "GET, HEAD, PUT, DELETE"},
    {"/v1/orders/t", get_head},
    {"/v1/orders/t/1", "GET, HEAD, PUT, DELETE"},
    {"/v1/fills/o", get_head},
    {"/v1/fills/o/tx", "GET, HEAD, PUT"},
    {"/v1/settlements/o", get_head},
    {"/v1/settlements/o/cl", "GET, HEAD, PUT"},
  };
  for (auto& [target, allow] : routes) {
    for (std::string method :
         {"GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS"}) {
      INFO(method << " " << target);
      bool allowed = (", " + allow + ",").find(", " + method + ",")
                     != std::string::npos;
      if (target == "/v1/state/batch-get" && method == "POST")
        allowed = true; // the batch route itself
      auto r = c.request(method, target, method == "HEAD" ? "" : "x");
      if (allowed) {
        CHECK(r.status != 405);
        continue;
      }
      CHECK(r.status == 405);
      CHECK(r.header("allow") == allow);
      CHECK(error_code_of(r.body) == "method_not_allowed");
    }
  }
}

// Found by review: PATCH with Expect: 100-continue got 100 Continue, its
// body was read, then 405.
TEST_CASE("a request refused before its handler is answered without "
          "reading its body or sending 100 Continue") {
  service_process svc{"state:\n  type: memory\n"};
  struct refused_case {
    std::string request_line;
    unsigned status;
  };
  for (auto [line, status] :
       {refused_case{"PATCH /v1/state/x HTTP/1.1", 405},
        refused_case{"PUT /v1/no/such/path HTTP/1.1", 404},
        refused_case{"PUT /v1/state/%zz HTTP/1.1", 400}}) {
    for (std::string expect : {"Expect: 100-continue\r\n", ""}) {
      INFO(line << " " << expect);
      raw_socket s{svc.port()};
      // A large body announced, none sent: the answer comes from the
      // header alone.
      REQUIRE(s.send(line + "\r\nHost: x\r\nContent-Length: 100000\r\n"
                     + expect + "\r\n"));
      auto answer = s.receive(3s);
      auto head = split_head(answer);
      CHECK(head.status == status);
      CHECK(answer.find("100 Continue") == std::string::npos);
      CHECK(head.field("connection") == "close");
      if (status == 405)
        CHECK(head.field("allow") == "GET, HEAD, PUT, DELETE");
      CHECK(s.closed_by_peer(3s));
    }
  }
  // A route that takes the method still gets its 100 Continue.
  raw_socket s{svc.port()};
  REQUIRE(s.send("PUT /v1/state/x HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n"));
  CHECK(s.receive(1s).rfind("HTTP/1.1 100 Continue", 0) == 0);
  REQUIRE(s.send("ok"));
  CHECK(s.receive(1s).rfind("HTTP/1.1 201", 0) == 0);
}

// Found by review of the change above: a refused request whose body came
// whole with its header closed the connection too, and a request pipelined
// behind it (a probe) was never answered.
TEST_CASE("a refused request whose body came with its header keeps the "
          "connection for the request behind it") {
  service_process svc{"state:\n  type: memory\n"};
  raw_socket s{svc.port()};
  REQUIRE(s.send("POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                 "\r\nhiGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string answers;
  for (int i = 0; i < 20 && answers.find("HTTP/1.1 200") == std::string::npos;
       ++i)
    answers += s.receive(200ms);
  CHECK(answers.rfind("HTTP/1.1 404", 0) == 0);
  CHECK(answers.find("HTTP/1.1 200") != std::string::npos);
}

namespace {

/// True when `value` is an IMF-fixdate within a few seconds of now.
bool is_current_http_date(const std::string& value) {
  std::regex imf{R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} )"
                 R"((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) )"
                 R"(\d{4} \d{2}:\d{2}:\d{2} GMT)"};
  if (!std::regex_match(value, imf))
    return false;
  std::tm tm{};
  if (!strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm))
    return false;
  auto skew = std::difftime(timegm(&tm), std::time(nullptr));
  return skew > -5 && skew < 5;
}

} // namespace

TEST_CASE("every response carries Date in IMF-fixdate") {
  service_process svc{"state:\n  type: memory\n"
                      "http:\n  max_body_bytes: 1000\n"};
  http_client c{svc.port()};
  auto put = c.put("/v1/state/d", "v");
  auto etag = put.header("etag");
  std::vector<http_response> answers{
    put,
    c.get("/v1/state/d"),
    c.get("/v1/state/d", {{"If-None-Match", etag}}),
    c.get("/v1/state/absent"),
    c.request("PATCH", "/v1/state/d", "x"),
    c.get("/v1/state?limit=0"),
    c.request("HEAD", "/v1/state/d"),
    c.get("/metrics"),
  };
  for (auto& r : answers) {
    INFO("status " << r.status << ", Date: " << r.header("date"));
    CHECK(is_current_http_date(r.header("date")));
  }
  // Answers the gateway gives before routing, and the interim 100.
  for (std::string raw :
       {std::string{"HELLO THERE\r\n\r\n"},
        std::string{"PUT /v1/state/big HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 5000\r\n\r\n"},
        std::string{"PUT /v1/state/c HTTP/1.1\r\nHost: x\r\n"
                    "Content-Length: 1\r\nExpect: 100-continue\r\n\r\n"}}) {
    auto head = split_head(raw_exchange(svc.port(), raw, 1s));
    INFO(raw << " -> " << head.status);
    CHECK(head.status != 0);
    CHECK(is_current_http_date(head.field("date")));
  }
}

TEST_CASE("a header section over the limits gets 431 and a closed "
          "connection") {
  service_process svc{"state:\n  type: memory\n"};
  auto fields = [](int n) {
    std::string out;
    for (int i = 0; i < n; ++i)
      out += "X-F" + std::to_string(i) + ": 1\r\n";
    return out;
  };
  const std::vector<std::pair<std::string, std::string>> cases{
    {"over 16 KiB", "X-Big: " + std::string(20 * 1024, 'h') + "\r\n"},
    {"over 100 fields", fields(100)}, // with Host: 101
  };
  for (auto& [what, extra] : cases) {
    INFO(what);
    raw_socket s{svc.port()};
    REQUIRE(s.send("GET /healthz HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n"));
    auto answer = s.receive(10s); // returns when the server closes
    auto head = split_head(answer);
    CHECK(head.status == 431);
    CHECK(answer.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0)
          == 0);
    CHECK(head.field("content-type") == "application/json");
    CHECK(error_code_of(head.rest) == "bad_request");
    CHECK(head.field("connection") == "close");
    CHECK(s.closed_by_peer(1s));
  }
  // Just under both limits: served.
  auto ok = raw_exchange(svc.port(),
                         "GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields(99)
                           + "\r\n",
                         1s);
  CHECK(split_head(ok).status == 200);
  http_client c{svc.port()};
  CHECK(c.get("/healthz").status == 200);
  // Counted under their own status (the metrics flush once a second).
  bool counted = false;
  for (int i = 0; i < 50 && !counted; ++i) {
    counted = c.get("/metrics").body.find("status=\"431\"")
              != std::string::npos;
    if (!counted)
      std::this_thread::sleep_for(100ms);
  }
  CHECK(counted);
}

namespace {

bool generated_id(const std::string& id) {
  return std::regex_match(id, std::regex{"[0-9a-f]{16}"});
}

} // namespace

TEST_CASE("X-Request-Id is echoed when usable, generated otherwise") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  header_list id{{"X-Request-Id", "client-42"}};
  auto etag = c.put("/v1/state/r", "v", id).header("etag");
  std::vector<http_response> echoed{
    c.put("/v1/state/r", "v", id),
    c.get("/v1/state/r", id),
    c.request("HEAD", "/v1/state/r", "", id),
    c.get("/v1/state/r", {{"X-Request-Id", "client-42"},
                          {"If-None-Match", etag}}),
    c.get("/v1/state/absent", id),
    c.request("PATCH", "/v1/state/r", "x", id),
    c.get("/v1/state?limit=0", id),
    c.put("/v1/state/r", "v", {{"X-Request-Id", "client-42"},
                               {"If-Match", "*"}}),
  };
  for (auto& r : echoed) {
    INFO("status " << r.status);
    CHECK(r.header("x-request-id") == "client-42");
  }
  auto longest = std::string(128, 'i');
  CHECK(c.get("/healthz", {{"X-Request-Id", longest}}).header("x-request-id")
        == longest);
  // None, or unusable: a fresh 16-hex-digit id each time.
  auto a = c.get("/healthz").header("x-request-id");
  auto b = c.get("/healthz").header("x-request-id");
  CHECK(generated_id(a));
  CHECK(generated_id(b));
  CHECK(a != b);
  for (std::string bad : {std::string(129, 'i'), std::string{"has space"},
                          std::string{"caf\xc3\xa9"}}) {
    auto r = c.get("/healthz", {{"X-Request-Id", bad}});
    INFO(bad);
    CHECK(generated_id(r.header("x-request-id")));
  }
  // Answers before routing: echoed once the header is parsed, generated
  // when even that failed.
  std::string many_fields;
  for (int i = 0; i < 100; ++i)
    many_fields += "X-F" + std::to_string(i) + ": 1\r\n";
  auto too_many = split_head(raw_exchange(
    svc.port(),
    "GET /healthz HTTP/1.1\r\nX-Request-Id: fields-1\r\n" + many_fields
      + "\r\n",
    5s));
  CHECK(too_many.status == 431);
  CHECK(too_many.field("x-request-id") == "fields-1");
  auto malformed = split_head(raw_exchange(svc.port(), "HELLO\r\n\r\n", 5s));
  CHECK(malformed.status == 400);
  CHECK(generated_id(malformed.field("x-request-id")));
}

TEST_CASE("X-Request-Id is in every log line about its request") {
  SECTION("the access log and a refusal") {
    service_process svc{"state:\n  type: memory\nlog:\n  level: debug\n"};
    http_client c{svc.port()};
    REQUIRE(c.get("/v1/state/x", {{"X-Request-Id", "trace-me-1"}}).status
            == 404);
    auto big = split_head(raw_exchange(
      svc.port(),
      "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'b')
        + "\r\n\r\n",
      5s));
    REQUIRE(big.status == 431);
    auto generated = big.field("x-request-id");
    REQUIRE(generated_id(generated));
    // The log is written by the service's own thread: wait for it.
    std::string log;
    for (int i = 0; i < 50; ++i) {
      log = svc.log();
      if (log.find("request_id=" + generated) != std::string::npos)
        break;
      std::this_thread::sleep_for(100ms);
    }
    CHECK(std::regex_search(
      log, std::regex{"http: access client=127\\.0\\.0\\.1:[0-9]+ method=GET "
                      "target=\"/v1/state/x\" "
                      "route=/v1/state/\\{key\\} status=404 .*"
                      "request_id=trace-me-1"}));
    CHECK(std::regex_search(log, std::regex{"refusing request: request "
                                            "header exceeds 16384 bytes "
                                            "request_id="
                                            + generated}));
  }
  SECTION("the warning of a 504") {
    // As in http_limits_test: 100k keys keep the store busy past 10ms.
    service_process svc{"state:\n  type: memory\n"
                        "http:\n  request_timeout: 10ms\n"
                        "  max_body_bytes: 16777216\n"
                        "  max_batch_keys: 100000\n"};
    std::string body = "{\"keys\":[";
    for (int i = 0; i < 100000; ++i)
      body += (i ? ",\"state:t:" : "\"state:t:") + std::to_string(i) + "\"";
    body += "]}";
    http_client c{svc.port()};
    auto r = c.request("POST", "/v1/state/batch-get", body,
                       {{"X-Request-Id", "slow-batch-7"}});
    REQUIRE(r.status == 504);
    CHECK(r.header("x-request-id") == "slow-batch-7");
    std::string log;
    for (int i = 0; i < 50; ++i) {
      log = svc.log();
      if (log.find("slow-batch-7") != std::string::npos)
        break;
      std::this_thread::sleep_for(100ms);
    }
    CHECK(std::regex_search(log, std::regex{"POST /v1/state/batch-get -> 504 "
                                            "request_id=slow-batch-7 "}));
  }
}

TEST_CASE("a request line over the limit is 414 URI Too Long") {
  service_process svc{"state:\n  type: memory\n"};
  raw_socket s{svc.port()};
  REQUIRE(s.send("GET /v1/state/" + std::string(20 * 1024, 'k')
                 + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto answer = s.receive(10s);
  CHECK(answer.rfind("HTTP/1.1 414 URI Too Long\r\n", 0) == 0);
  auto head = split_head(answer);
  CHECK(error_code_of(head.rest) == "bad_request");
  CHECK(head.field("connection") == "close");
  CHECK(s.closed_by_peer(1s));
  // A long target within the limit is served (here: a key too long).
  http_client c{svc.port()};
  CHECK(c.get("/v1/state/" + std::string(2000, 'k')).status == 400);
}
