// What an operator's log shows: log.format json (every line one JSON
// object), http.access_log (client, method, route, status, bytes,
// duration, request id at info), and every 5xx at warn with its request id,
// bounded per second. The real build/solver-state over loopback.

#include <catch2/catch.hpp>

#include <csignal>
#include <sstream>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
namespace json = boost::json;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      out.push_back(line);
  return out;
}

/// The log lines that mention `text`.
std::vector<std::string> lines_with(const std::string& log,
                                    const std::string& text) {
  std::vector<std::string> out;
  for (auto& line : lines_of(log))
    if (line.find(text) != std::string::npos)
      out.push_back(line);
  return out;
}

} // namespace

TEST_CASE("log.format json writes each line as one JSON object and the "
          "access log names the client and route and status and request id") {
  service_process svc{"state:\n  type: memory\nlog:\n  format: json\n"
                      "http:\n  access_log: true\n"};
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state:l:k", "value", {{"X-Request-Id", "put-1"}})
            .status
          == 201);
  REQUIRE(c.get("/v1/state/state:l:none", {{"X-Request-Id", "get-2"}}).status
          == 404);
  REQUIRE(svc.stop(SIGTERM) == 0);
  auto log = svc.log();
  auto lines = lines_of(log);
  REQUIRE(lines.size() >= 4);
  for (auto& line : lines) {
    INFO(line);
    json::object obj;
    REQUIRE_NOTHROW(obj = json::parse(line).as_object());
    CHECK(obj.at("time").as_string().ends_with("Z"));
    CHECK(obj.at("level").is_string());
    CHECK(obj.at("message").is_string());
    CHECK(obj.at("fields").is_object());
  }
  auto access = lines_with(log, "\"request_id\":\"get-2\"");
  REQUIRE(access.size() == 1);
  auto fields = json::parse(access[0]).as_object().at("fields").as_object();
  CHECK(json::parse(access[0]).as_object().at("level").as_string() == "info");
  CHECK(fields.at("client").as_string().starts_with("127.0.0.1:"));
  CHECK(fields.at("method").as_string() == "GET");
  CHECK(fields.at("route").as_string() == "/v1/state/{key}");
  CHECK(fields.at("status").as_string() == "404");
  CHECK(fields.at("target").as_string() == "/v1/state/state:l:none");
  CHECK(std::stoul(std::string{fields.at("bytes").as_string()}) > 0);
  CHECK(fields.contains("micros"));
  CHECK(lines_with(log, "\"request_id\":\"put-1\"").size() == 1);
}

TEST_CASE("without http.access_log no line is written per request") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  REQUIRE(c.get("/v1/state/state:l:none", {{"X-Request-Id", "quiet-1"}})
            .status
          == 404);
  REQUIRE(svc.stop(SIGTERM) == 0);
  CHECK(lines_with(svc.log(), "quiet-1").empty());
}

TEST_CASE("every 5xx is logged at warn with its request id at most 10 a "
          "second and the lines left out are counted") {
  // A Redis backend with nothing listening: every data request is 503.
  service_process svc{"state:\n  type: redis://127.0.0.1:1/0\n"};
  http_client c{svc.port()};
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i)
    REQUIRE(c.get("/v1/state/state:x:k",
                  {{"X-Request-Id", "down-" + std::to_string(i)}})
              .status
            == 503);
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
  // The next second's first 5xx line reports how many were left out.
  std::this_thread::sleep_for(std::chrono::milliseconds{1'100});
  REQUIRE(c.get("/v1/state/state:x:k", {{"X-Request-Id", "down-last"}}).status
          == 503);
  REQUIRE(svc.stop(SIGTERM) == 0);
  auto log = svc.log();
  INFO(log);
  auto warned = lines_with(log, "-> 503 request_id=down-");
  for (auto& line : warned)
    CHECK(line.find("[warning]") != std::string::npos);
  CHECK(warned.size() <= 10 * static_cast<size_t>(seconds + 2));
  CHECK_FALSE(lines_with(log, "request_id=down-0 ").empty());
  auto last = lines_with(log, "request_id=down-last ");
  REQUIRE(last.size() == 1);
  // "... (N more 5xx answers not logged)" ends the line; the error message
  // before it may hold parentheses of its own ("(next reconnect in 43 ms)").
  uint64_t left_out = 0;
  if (auto end = last[0].rfind(" more 5xx answers not logged");
      end != std::string::npos) {
    auto at = last[0].rfind('(', end);
    REQUIRE(at != std::string::npos);
    left_out = std::stoull(last[0].substr(at + 1, end - at - 1));
  }
  // Every 5xx was either logged or counted in the next line.
  CHECK(warned.size() + left_out == 201);
}

TEST_CASE("a store that reaches 90% of state.max_items says so in the log") {
  service_process svc{"state:\n  type: memory\n  max_items: 10\n"
                      "  sweep_interval: 100ms\n"};
  http_client c{svc.port()};
  for (int i = 0; i < 9; ++i)
    REQUIRE(c.put("/v1/state/state:cap:" + std::to_string(i), "v").status
            == 201);
  // Shards report their sizes on their tick: wait for the line.
  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = svc.log();
    if (log.find("90% or more") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  CHECK_THAT(log, Catch::Contains("[warning] store: 9 keys of "
                                  "state.max_items=10 (90% or more)"));
}
