// GET /metrics on the live service is valid Prometheus text format 0.0.4:
// promtool accepts it, with the one expected lint line about the seed's
// gauge name state_keys_total (the seed's metric names).

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;

TEST_CASE("promtool check metrics passes on the live /metrics output") {
  std::string out;
  if (run_command("command -v promtool", out) != 0)
    FAIL("promtool is not installed (Debian package prometheus)");
  service_process svc; // the default backend: file, under the test's temp dir
  http_client c{svc.port()};
  for (int i = 0; i < 20; ++i) {
    REQUIRE(c.put("/v1/state/state:m:" + std::to_string(i), "value").status
            == 204);
    c.get("/v1/state/state:m:" + std::to_string(i));
  }
  c.get("/v1/state/state:m:missing");
  c.get("/nope");
  c.request("POST", "/v1/state/batch-get", R"({"keys":["state:m:1"]})");
  c.get("/v1/state?prefix=state:m:");
  // Shards report on their tick, the gateway once a second.
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (std::chrono::steady_clock::now() < deadline) {
    text = c.get("/metrics").body;
    if (text.find("http_requests_total{route=\"/v1/state/{key}\",method=\"PUT\","
                  "status=\"204\"} 20")
          != std::string::npos
        && text.find("state_keys_total{backend=\"file\"} 20")
             != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  INFO(text);
  CHECK(text.find("state_operations_total{op=\"set\",backend=\"file\","
                  "result=\"ok\"} 20")
        != std::string::npos);
  CHECK(text.find("result=\"not_found\"") != std::string::npos);
  CHECK(text.find("state_operation_duration_seconds_bucket{op=\"get\"")
        != std::string::npos);
  CHECK(text.find("state_keys_total{backend=\"file\"} 20")
        != std::string::npos);
  CHECK(text.find("state_size_bytes{backend=\"file\"}") != std::string::npos);
  CHECK(text.find("http_requests_total{route=\"unknown\",method=\"GET\","
                  "status=\"404\"} 1")
        != std::string::npos);
  char path[] = "/tmp/solver-state-metrics-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream{path} << text;
  auto rc = run_command(std::string{"promtool check metrics < "} + path, out);
  std::remove(path);
  INFO("promtool exit " << rc << ":\n" << out);
  std::istringstream lines{out};
  std::string line;
  int expected = 0;
  while (std::getline(lines, line)) {
    if (line.empty())
      continue;
    if (line.find("state_keys_total") != std::string::npos
        && line.find("_total") != std::string::npos) {
      ++expected;
      continue;
    }
    FAIL_CHECK("unexpected promtool line: " << line);
  }
  CHECK(expected == 1);
}
