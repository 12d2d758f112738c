// The METRICS actor on the deterministic test coordinator: shard and HTTP
// reports are added up and rendered as Prometheus text format 0.0.4; a real
// shard's tick report shows up in it.

#include <regex>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "actors/metrics.hpp"
#include "actors/shard.hpp"
#include "backends/key_budget.hpp"
#include "backends/memory/store.hpp"
#include "tests/support/deterministic_fixture.hpp"
#include "tests/support/shard_reports.hpp"

using namespace solver_state;
using testing::deterministic_system;

namespace {

/// A report of `gets` successful gets, each in the first duration bucket.
shard_report report(uint32_t shard, uint64_t keys, uint64_t gets) {
  auto r = testing::empty_report(shard, keys);
  auto get = static_cast<size_t>(op_kind::get);
  r.results[get * result_code_count] = gets;
  r.buckets[get * bucket_count] = gets;
  r.seconds_sum[get] = 0.000001 * gets;
  return r;
}

struct metrics_fixture : deterministic_system {
  metrics_actor metrics = stop_at_end(spawn_metrics(*sys));

  template <class... Ts>
  void report(Ts&&... xs) {
    (*self)->send(metrics, report_atom_v, std::forward<Ts>(xs)...);
    sched->run();
  }

  std::string render() {
    auto text = ask_actor<std::string>(metrics, render_atom_v);
    REQUIRE(text);
    return *text;
  }
};

/// Every line is a "# HELP", a "# TYPE" or a sample "name{labels} value";
/// a sample without labels (the process metrics) has no braces.
void check_format(const std::string& text) {
  static const std::regex help{R"(# HELP [a-z_]+ .+)"};
  static const std::regex type{R"(# TYPE [a-z_]+ (counter|gauge|histogram))"};
  static const std::regex sample{
    R"([a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [0-9.e+-]+)"};
  REQUIRE_FALSE(text.empty());
  CHECK(text.back() == '\n');
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    INFO(line);
    CHECK((std::regex_match(line, help) || std::regex_match(line, type)
           || std::regex_match(line, sample)));
  }
}

} // namespace

TEST_CASE("metrics: shard reports are summed and rendered") {
  metrics_fixture f;
  f.report(report(0, 5, 2));
  f.report(report(1, 7, 3));
  f.report(report(0, 4, 1)); // shard 0 now holds 4 keys, not 9
  auto text = f.render();
  check_format(text);
  CHECK_THAT(text, Catch::Contains("# TYPE state_operations_total counter\n"));
  CHECK_THAT(text, Catch::Contains("state_operations_total{op=\"get\","
                                   "backend=\"memory\",result=\"ok\"} 6\n"));
  CHECK_THAT(text, Catch::Contains("state_keys_total{backend=\"memory\"} 11\n"));
  CHECK_THAT(text, Catch::Contains("state_size_bytes{backend=\"memory\"} 110\n"));
  CHECK_THAT(text, Catch::Contains("state_operation_duration_seconds_count{op="
                                   "\"get\",backend=\"memory\"} 6\n"));
}

TEST_CASE("metrics: HTTP reports are summed by route, method and status") {
  metrics_fixture f;
  f.report(http_report{{http_count{"/v1/state/{key}", "GET", 200, 2},
                        http_count{"/v1/state/{key}", "GET", 404, 1}}});
  f.report(http_report{{http_count{"/v1/state/{key}", "GET", 200, 3}}});
  auto text = f.render();
  check_format(text);
  CHECK_THAT(text, Catch::Contains("http_requests_total{route=\"/v1/state/"
                                   "{key}\",method=\"GET\",status=\"200\"} 5\n"));
  CHECK_THAT(text, Catch::Contains("http_requests_total{route=\"/v1/state/"
                                   "{key}\",method=\"GET\",status=\"404\"} 1\n"));
}

TEST_CASE("metrics: a shard's tick report reaches the rendered text") {
  metrics_fixture f;
  auto shard = f.stop_at_end(spawn_shard(
    *f.sys,
    std::make_unique<memory_store>(std::make_shared<key_budget>(0),
                                   eviction_policy::reject, 0),
    false, [&] {
      shard_settings s;
      s.metrics = f.metrics;
      return s;
    }()));
  REQUIRE(f.ask_actor<write_result>(shard, put_atom_v,
                                    set_request{"state:c:k", "v", 0, {}}));
  REQUIRE(f.ask_actor<entry>(shard, get_atom_v, std::string{"state:c:k"}));
  REQUIRE_FALSE(f.ask_actor<entry>(shard, get_atom_v, std::string{"state:c:x"}));
  // Nothing is counted before the shard's tick.
  CHECK_THAT(f.render(), !Catch::Contains("state_operations_total{"));
  (*f.self)->send(shard, tick_atom_v);
  f.sched->run();
  auto text = f.render();
  check_format(text);
  CHECK_THAT(text, Catch::Contains("state_operations_total{op=\"get\","
                                   "backend=\"memory\",result=\"not_found\"} "
                                   "1\n"));
  CHECK_THAT(text, Catch::Contains("state_operations_total{op=\"set\","
                                   "backend=\"memory\",result=\"ok\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("state_keys_total{backend=\"memory\"} 1\n"));
}
