// GET /metrics on the live service is valid Prometheus text format 0.0.4:
// promtool accepts it, with the one expected lint line about the seed's
// gauge name state_keys_total (the seed's metric names). It carries the
// build info, the HTTP request durations and the process metrics, and every
// metric that docs/alerts.yaml alerts on or docs/grafana/solver-state.json
// (the Grafana dashboard) queries.

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include "actors/cluster/metrics.hpp"
#include "actors/metrics_registry.hpp"
#include "tests/support/http_test_support.hpp"
#include "tests/support/promql_names.hpp"

using namespace solver_state::testing;

namespace {

/// Runs `promtool check metrics` on `text`: its one complaint must be the
/// one every service draws, state_keys_total (a gauge named like a
/// counter, which promtool flags).
void check_with_promtool(const std::string& text) {
  char path[] = "/tmp/solver-state-metrics-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream{path} << text;
  std::string out;
  auto rc = run_command(std::string{"promtool check metrics < "} + path, out);
  std::remove(path);
  INFO("promtool exit " << rc << ":\n" << out);
  std::istringstream lines{out};
  std::string line;
  int expected = 0;
  while (std::getline(lines, line)) {
    if (line.empty())
      continue;
    if (line.find("state_keys_total") != std::string::npos) {
      ++expected;
      continue;
    }
    FAIL_CHECK("unexpected promtool line: " << line);
  }
  CHECK(expected == 1);
}

} // namespace

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
                  "status=\"201\"} 20")
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
  // Twenty creates: 201 each (a status the counters did not know once
  // counted as status="0").
  CHECK(text.find("http_requests_total{route=\"/v1/state/{key}\",method=\"PUT\","
                  "status=\"201\"} 20\n")
        != std::string::npos);
  CHECK(text.find("status=\"0\"") == std::string::npos);
  CHECK(text.find("state_operation_duration_seconds_bucket{op=\"get\"")
        != std::string::npos);
  CHECK(text.find("state_keys_total{backend=\"file\"} 20")
        != std::string::npos);
  CHECK(text.find("state_size_bytes{backend=\"file\"}") != std::string::npos);
  CHECK(text.find("http_requests_total{route=\"unknown\",method=\"GET\","
                  "status=\"404\"} 1")
        != std::string::npos);
  // The service runs on the malloc this build links (a linker that drops
  // an unused library would leave it on glibc's).
  CHECK(text.find("solver_state_build_info{version=\"" SOLVER_STATE_VERSION
                  "\",backend=\"file\",allocator=\""
                  SOLVER_STATE_EXPECTED_ALLOCATOR)
        != std::string::npos);
  CHECK(text.find("\nsolver_state_allocator_allocated_bytes ")
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
  check_with_promtool(text);
}

namespace {

/// /metrics of a live single-node service after a write and a read, once
/// the shards and the gateway have reported them.
std::string live_metrics() {
  service_process svc;
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state:a:1", "value").status == 201);
  c.get("/v1/state/state:a:1");
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (std::chrono::steady_clock::now() < deadline) {
    text = c.get("/metrics").body;
    if (text.find("state_operations_total{op=\"set\"") != std::string::npos
        && text.find("solver_state_http_request_duration_seconds_bucket{")
             != std::string::npos
        && text.find("solver_state_build_info{") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  return text;
}

/// What a node whose watches read a shared engine's change feed adds to
/// its metrics (the default service, on the file backend, reads none).
std::string change_feed_metrics() {
  solver_state::metrics_registry m;
  solver_state::watch_report r;
  r.feed = static_cast<uint8_t>(solver_state::feed_state::lost);
  r.feed_losses = 1;
  m.add(r);
  return m.render();
}

/// /metrics of a live service on the rocksdb backend after a write, once
/// its shard has reported the engine's compaction state.
std::string live_rocksdb_metrics() {
  service_process svc{"state:\n  type: rocksdb\n  rocksdb:\n"
                      "    base_path: ./rocksdb\n"};
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state:r:1", "value").status == 201);
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = c.get("/metrics").body;
    if (text.find("state_keys_total{backend=\"rocksdb\"} 1\n")
          != std::string::npos
        && text.find("solver_state_rocksdb_write_stalls_total{")
             != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  return text;
}

/// Checks that every name in `names` (from `what`) is a metric family
/// `text` declares and has a sample of. A single node has no peers: the
/// peer metrics come from the cluster's metrics actor, rendered here for one
/// peer as a front node renders them; the handoff's, as a member renders
/// them; the change feed's, as a node on a shared engine renders them; the
/// rocksdb engine's, from a service on that backend.
void check_exported(const std::set<std::string>& names,
                    const std::string& text, const std::string& what) {
  auto peers = solver_state::render_peer_metrics(
    {solver_state::peer_stats{"node-b:4242", false, 1, 0, 0, {1}}});
  auto feed = change_feed_metrics();
  solver_state::handoff_stats stats;
  stats.active = true;
  auto handoff = solver_state::render_handoff_metrics(stats);
  std::string rocksdb;
  for (auto& name : names)
    if (SOLVER_STATE_WITH_ROCKSDB && rocksdb.empty()
        && name.rfind("solver_state_rocksdb_", 0) == 0)
      rocksdb = live_rocksdb_metrics();
  INFO(text);
  for (auto& name : names) {
    INFO(what << " uses " << name);
    bool of_rocksdb = name.rfind("solver_state_rocksdb_", 0) == 0;
    if (of_rocksdb && !SOLVER_STATE_WITH_ROCKSDB)
      continue; // built without the backend
    auto& source = name.rfind("state_peer_", 0) == 0 ? peers
                   : name.rfind("state_handoff_", 0) == 0 ? handoff
                   : name.rfind("solver_state_change_feed_", 0) == 0 ? feed
                   : of_rocksdb ? rocksdb
                                : text;
    // Declared: under its own name, or as a histogram's _bucket/_sum/_count.
    auto family = metric_family_of(name);
    CHECK((source.find("# TYPE " + name + " ") != std::string::npos
           || (family != name
               && source.find("# TYPE " + family + " histogram\n")
                    != std::string::npos)));
    // A sample, with labels or without.
    CHECK((source.find("\n" + name + "{") != std::string::npos
           || source.find("\n" + name + " ") != std::string::npos));
  }
}

/// The metric names of every rule's `expr` in docs/alerts.yaml.
std::set<std::string> alert_metric_names() {
  auto doc = YAML::LoadFile(SOLVER_STATE_SOURCE_DIR "/docs/alerts.yaml");
  std::set<std::string> names;
  for (const auto& group : doc["groups"])
    for (const auto& rule : group["rules"])
      for (auto& n : promql_metric_names(rule["expr"].as<std::string>()))
        names.insert(n);
  return names;
}

namespace json = boost::json;

json::object load_dashboard() {
  std::ifstream in{SOLVER_STATE_SOURCE_DIR "/docs/grafana/solver-state.json"};
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  json::error_code ec;
  auto v = json::parse(text.str(), ec);
  INFO("docs/grafana/solver-state.json: " << ec.message());
  REQUIRE(!ec);
  REQUIRE(v.is_object());
  return v.as_object();
}

/// The dashboard's panels, those inside collapsed rows included.
std::vector<json::object> dashboard_panels(const json::object& dash) {
  std::vector<json::object> out;
  for (auto& p : dash.at("panels").as_array()) {
    out.push_back(p.as_object());
    if (auto* inner = p.as_object().if_contains("panels"))
      for (auto& q : inner->as_array())
        out.push_back(q.as_object());
  }
  return out;
}

/// The PromQL of every target and of every query variable (of a variable's
/// label_values(SELECTOR, LABEL), the selector).
std::vector<std::string> dashboard_queries(const json::object& dash) {
  std::vector<std::string> out;
  std::regex label_values{R"(^\s*label_values\((.*),\s*\w+\s*\)\s*$)"};
  auto variable = [&](json::string_view q) {
    std::string query{q};
    std::smatch m;
    out.push_back(std::regex_match(query, m, label_values) ? m[1].str()
                                                           : query);
  };
  for (auto& p : dashboard_panels(dash))
    if (auto* targets = p.if_contains("targets"))
      for (auto& t : targets->as_array())
        if (auto* expr = t.as_object().if_contains("expr"))
          out.emplace_back(expr->as_string());
  for (auto& var : dash.at("templating").at("list").as_array()) {
    auto& v = var.as_object();
    if (v.at("type").as_string() != "query")
      continue;
    if (auto* def = v.if_contains("definition"))
      variable(def->as_string());
    auto& q = v.at("query");
    if (q.is_string())
      variable(q.as_string());
    else if (auto* inner = q.as_object().if_contains("query"))
      variable(inner->as_string());
  }
  return out;
}

} // namespace

TEST_CASE("solver_state_backend_up is 0 for a backend that fails its health "
          "check with no traffic at all") {
  // A Redis backend with nothing listening, and no request made.
  service_process svc{"state:\n  type: redis://127.0.0.1:1/0\n  shards: 2\n"};
  http_client c{svc.port()};
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = c.get("/metrics").body;
    if (text.find("solver_state_backend_up{backend=\"redis\",shard=\"1\"}")
        != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  CHECK_THAT(text, Catch::Contains("solver_state_backend_up{backend=\"redis\","
                                   "shard=\"0\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_backend_up{backend=\"redis\","
                                   "shard=\"1\"} 0\n"));
  // The healthy default backend reports 1.
  service_process ok{"state:\n  type: memory\n"};
  http_client d{ok.port()};
  for (int i = 0; i < 100; ++i) {
    text = d.get("/metrics").body;
    if (text.find("solver_state_backend_up{") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  CHECK_THAT(text, Catch::Contains("solver_state_backend_up{backend=\"memory\","
                                   "shard=\"0\"} 1\n"));
}

namespace {

/// /metrics once `wanted` shows in it (at most 10 s: the gateway and the
/// shards report once a second or on their tick).
std::string metrics_showing(http_client& c, const std::string& wanted) {
  std::string text;
  for (int i = 0; i < 50; ++i) {
    text = c.get("/metrics").body;
    if (text.find(wanted) != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
  }
  return text;
}

} // namespace

// Found by review: a refused connection was only told in the log, and only
// once per 10 s.
TEST_CASE("connections turned away for lack of room are counted by reason") {
  service_process svc{"state:\n  type: memory\n"
                      "http:\n  max_connections: 2\n"};
  {
    http_client c{svc.port()};
    // Every reason is there before the first refusal.
    auto text = metrics_showing(c, "solver_state_http_refused_connections_total");
    for (auto reason : {"max_connections", "descriptors", "evicted_idle"}) {
      INFO(reason);
      CHECK_THAT(text, Catch::Contains(
                         std::string{"solver_state_http_refused_connections_"
                                     "total{reason=\""}
                         + reason + "\"} 0\n"));
    }
  }
  // The server sees that client leave (no slot of the two is taken).
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  {
    // One connection in a request, one silent: a third takes the silent
    // one's slot (evicted_idle) and begins a request; then a fourth finds
    // both in a request and is answered 503 (max_connections).
    const std::string begun = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    raw_socket first{svc.port()};
    REQUIRE(first.send(begun));
    raw_socket silent{svc.port()};
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    raw_socket third{svc.port()};
    REQUIRE(third.send(begun));
    CHECK(silent.closed_by_peer(std::chrono::seconds{5}));
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    {
      raw_socket fourth{svc.port()};
      CHECK(fourth.receive(std::chrono::seconds{5}).rfind("HTTP/1.1 503", 0)
            == 0);
    }
    for (auto* s : {&first, &third}) {
      REQUIRE(s->send("Connection: close\r\n\r\n"));
      CHECK(s->receive(std::chrono::seconds{5}).rfind("HTTP/1.1 200", 0)
            == 0);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  http_client c{svc.port()};
  auto text = metrics_showing(c, "solver_state_http_refused_connections_total"
                                 "{reason=\"max_connections\"} 1\n");
  CHECK_THAT(text, Catch::Contains("solver_state_http_refused_connections_"
                                   "total{reason=\"max_connections\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_http_refused_connections_"
                                   "total{reason=\"evicted_idle\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_http_refused_connections_"
                                   "total{reason=\"descriptors\"} 0\n"));
}

// Found by review: only single-key deletes reached state_operations_total.
TEST_CASE("a delete by prefix counts as a delete_prefix operation of each "
          "shard") {
  service_process svc{"state:\n  type: memory\n  shards: 2\n"};
  http_client c{svc.port()};
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.put("/v1/state/dp:" + std::to_string(i), "v").status == 201);
  auto gone = c.del("/v1/state?prefix=dp:");
  REQUIRE(gone.status == 200);
  CHECK(gone.body == R"({"deleted":3})");
  const std::string counted = "state_operations_total{op=\"delete_prefix\","
                              "backend=\"memory\",result=\"ok\"} 2\n";
  auto text = metrics_showing(c, counted);
  CHECK_THAT(text, Catch::Contains(counted));
  CHECK_THAT(text, Catch::Contains("state_operation_duration_seconds_count{"
                                   "op=\"delete_prefix\",backend=\"memory\"} "
                                   "2\n"));
}

TEST_CASE("promql_metric_names finds metrics, not functions, labels or "
          "keywords") {
  CHECK(promql_metric_names(
          R"(histogram_quantile(0.99, sum by (instance, le) ()"
          R"(rate(x_seconds_bucket{op="set",le=~"0.1"}[$__rate_interval]))))")
        == std::set<std::string>{"x_seconds_bucket"});
  CHECK(promql_metric_names(
          "sum by (instance) (a_total) / on (instance) group_left(version)"
          " (b > bool 0) unless c offset 5m")
        == std::set<std::string>{"a_total", "b", "c"});
  CHECK(promql_metric_names(
          R"(label_replace(rate(h{instance=~"$instance"}[5m]), "class",)"
          R"( "${1}xx", "status", "([0-9]).*"))")
        == std::set<std::string>{"h"});
  CHECK(promql_metric_names("time() - up") == std::set<std::string>{"up"});
  CHECK(metric_family_of("x_seconds_bucket") == "x_seconds");
  CHECK(metric_family_of("x_total") == "x_total");
}

TEST_CASE("every metric docs/alerts.yaml alerts on is exported") {
  auto names = alert_metric_names();
  REQUIRE(names.size() >= 4);
  check_exported(names, live_metrics(), "alerts.yaml");
}

// Found by review: the 50 ms latency alerts sat inside a 10..100 ms bucket,
// where histogram_quantile interpolates, and paged on writes of 11 ms.
TEST_CASE("every latency threshold of docs/alerts.yaml is a bucket bound of "
          "its histogram") {
  auto doc = YAML::LoadFile(SOLVER_STATE_SOURCE_DIR "/docs/alerts.yaml");
  // histogram_quantile(Q, ... NAME_bucket ...) > THRESHOLD, on one line.
  std::regex quantile{R"(histogram_quantile\(.*?\b(\w+)_bucket\b.*\)\s*>\s*)"
                      R"(([0-9.eE+-]+)\s*$)"};
  auto bounds_of = [](const std::string& name) -> std::vector<double> {
    using namespace solver_state;
    if (name == "state_operation_duration_seconds"
        || name == "solver_state_wal_sync_seconds")
      return {duration_bounds.begin(), duration_bounds.end()};
    if (name == "solver_state_http_request_duration_seconds")
      return {http_duration_bounds.begin(), http_duration_bounds.end()};
    return {};
  };
  int checked = 0;
  for (const auto& group : doc["groups"])
    for (const auto& rule : group["rules"]) {
      auto expr = rule["expr"].as<std::string>();
      std::replace(expr.begin(), expr.end(), '\n', ' ');
      std::smatch m;
      if (!std::regex_search(expr, m, quantile))
        continue;
      INFO(rule["alert"].as<std::string>() << ": " << expr);
      auto bounds = bounds_of(m[1].str());
      REQUIRE_FALSE(bounds.empty()); // a histogram this test does not know
      auto threshold = std::stod(m[2].str());
      CHECK(std::find(bounds.begin(), bounds.end(), threshold) != bounds.end());
      ++checked;
    }
  CHECK(checked >= 3);
}

TEST_CASE("docs/grafana/solver-state.json is an importable dashboard") {
  auto dash = load_dashboard();
  CHECK(dash.at("schemaVersion").as_int64() >= 36);
  CHECK(dash.at("uid").as_string() == "solver-state");
  // The data source is a variable, so the file imports as it is and
  // provisions from a file alike, on any Prometheus data source.
  bool ds_variable = false;
  for (auto& var : dash.at("templating").at("list").as_array()) {
    auto& v = var.as_object();
    if (v.at("name").as_string() == "DS_PROMETHEUS"
        && v.at("type").as_string() == "datasource"
        && v.at("query").as_string() == "prometheus")
      ds_variable = true;
  }
  CHECK(ds_variable);
  std::set<int64_t> ids;
  size_t with_targets = 0;
  for (auto& p : dashboard_panels(dash)) {
    auto title = json::value_to<std::string>(p.at("title"));
    INFO("panel " << title);
    CHECK(ids.insert(p.at("id").as_int64()).second);
    CHECK(p.contains("gridPos"));
    if (p.at("type").as_string() == "row")
      continue;
    ++with_targets;
    REQUIRE(p.contains("datasource"));
    CHECK(p.at("datasource").at("uid").as_string() == "${DS_PROMETHEUS}");
    REQUIRE(p.contains("targets"));
    auto& targets = p.at("targets").as_array();
    CHECK(!targets.empty());
    for (auto& t : targets) {
      auto& target = t.as_object();
      CHECK(!target.at("expr").as_string().empty());
      if (auto* ds = target.if_contains("datasource"))
        CHECK(ds->at("uid").as_string() == "${DS_PROMETHEUS}");
    }
  }
  CHECK(with_targets >= 10);
}

TEST_CASE("every metric docs/grafana/solver-state.json queries is exported") {
  auto dash = load_dashboard();
  std::set<std::string> names;
  for (auto& q : dashboard_queries(dash))
    for (auto& n : promql_metric_names(q))
      names.insert(n);
  REQUIRE(names.size() >= 10);
  check_exported(names, live_metrics(), "the dashboard");
}

TEST_CASE("a service on rocksdb shows the engine's compaction state, and "
          "promtool accepts it") {
  if (!SOLVER_STATE_WITH_ROCKSDB) {
    WARN("built without the rocksdb backend: nothing to check");
    return;
  }
  std::string out;
  if (run_command("command -v promtool", out) != 0)
    FAIL("promtool is not installed (Debian package prometheus)");
  auto text = live_rocksdb_metrics();
  INFO(text);
  for (auto family : {"solver_state_rocksdb_sst_bytes gauge",
                      "solver_state_rocksdb_compaction_debt_bytes gauge",
                      "solver_state_rocksdb_memtable_bytes gauge",
                      "solver_state_rocksdb_level0_files gauge",
                      "solver_state_rocksdb_write_stalls_total counter"})
    CHECK_THAT(text, Catch::Contains(std::string{"# TYPE "} + family + "\n"));
  // One key of 5 bytes sits in the memtable, nothing is flushed yet.
  CHECK_THAT(text, Catch::Contains("solver_state_rocksdb_sst_bytes{backend="
                                   "\"rocksdb\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_rocksdb_write_stalls_total{"
                                   "backend=\"rocksdb\"} 0\n"));
  CHECK_THAT(text, !Catch::Contains("solver_state_rocksdb_memtable_bytes{"
                                    "backend=\"rocksdb\"} 0\n"));
  check_with_promtool(text);
}
