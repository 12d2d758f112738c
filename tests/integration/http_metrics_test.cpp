// GET /metrics on the live service is valid Prometheus text format 0.0.4:
// promtool accepts it, with the one expected lint line about the seed's
// gauge name state_keys_total (the seed's metric names). It carries the
// build info, the HTTP request durations and the process metrics, and every
// metric that docs/alerts.yaml alerts on.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "actors/cluster/metrics.hpp"
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
            == 201);
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
             != std::string::npos
        && text.find("solver_state_http_request_duration_seconds_count{route="
                     "\"/v1/state/{key}\",method=\"PUT\"} 20")
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
  CHECK(text.find("solver_state_build_info{version=\"" SOLVER_STATE_VERSION
                  "\",backend=\"file\"} 1\n")
        != std::string::npos);
  CHECK(text.find("solver_state_http_request_duration_seconds_count{route="
                  "\"/v1/state/{key}\",method=\"PUT\"} 20\n")
        != std::string::npos);
  CHECK(text.find("solver_state_http_request_duration_seconds_bucket{route="
                  "\"unknown\",method=\"GET\",le=\"+Inf\"} 1\n")
        != std::string::npos);
  // The service's default backend is the file backend: no key cap.
  CHECK(text.find("\nsolver_state_max_items 0\n") != std::string::npos);
  // The raw path never becomes a label value.
  CHECK(text.find("state:m:1") == std::string::npos);
  for (auto name : {"process_cpu_seconds_total ",
                    "process_resident_memory_bytes ", "process_open_fds ",
                    "process_max_fds ", "process_start_time_seconds "}) {
    INFO(name);
    CHECK(text.find(std::string{"\n"} + name) != std::string::npos);
  }
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

namespace {

/// The metric names in the `expr:` blocks of docs/alerts.yaml.
std::set<std::string> alert_metric_names() {
  std::ifstream in{SOLVER_STATE_SOURCE_DIR "/docs/alerts.yaml"};
  REQUIRE(in);
  std::set<std::string> names;
  std::regex name{R"(\b(solver_state|state|process|http)_[a-z_]+\b)"};
  std::regex expr_start{R"(^\s*expr:)"};
  std::regex expr_end{R"(^\s*(for|labels|annotations|- alert):)"};
  bool in_expr = false;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, expr_start))
      in_expr = true;
    else if (std::regex_search(line, expr_end))
      in_expr = false;
    if (!in_expr)
      continue;
    for (std::sregex_iterator it{line.begin(), line.end(), name}, end;
         it != end; ++it)
      names.insert(it->str());
  }
  return names;
}

/// A histogram's series name (`x_bucket`) stands for its family `x`.
std::string family_of(const std::string& name) {
  for (std::string suffix : {"_bucket", "_sum", "_count"})
    if (name.size() > suffix.size()
        && name.compare(name.size() - suffix.size(), suffix.size(), suffix)
             == 0)
      return name.substr(0, name.size() - suffix.size());
  return name;
}

} // namespace

TEST_CASE("every metric docs/alerts.yaml alerts on is exported") {
  auto names = alert_metric_names();
  REQUIRE(names.size() >= 4);
  service_process svc;
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state:a:1", "value").status == 201);
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (std::chrono::steady_clock::now() < deadline) {
    text = c.get("/metrics").body;
    if (text.find("state_operations_total{op=\"set\"") != std::string::npos
        && text.find("solver_state_http_request_duration_seconds_bucket{")
             != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  INFO(text);
  // A single node has no peers: the peer metrics come from the cluster's
  // metrics actor, rendered here for one peer as a front node renders them.
  auto peers = solver_state::render_peer_metrics(
    {solver_state::peer_stats{"node-b:4242", false, 1, 0, 0, {1}}});
  for (auto& name : names) {
    auto family = family_of(name);
    INFO("alerts.yaml uses " << name);
    auto& source = family.rfind("state_peer_", 0) == 0 ? peers : text;
    CHECK(source.find("# TYPE " + family + " ") != std::string::npos);
    // A sample, with labels or without.
    CHECK((source.find("\n" + name + "{") != std::string::npos
           || source.find("\n" + name + " ") != std::string::npos));
  }
}
