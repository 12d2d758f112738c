// Tests of metrics_registry: counters add up, gauges are summed over shards,
// HTTP counts are rendered with their route/method/status labels.

#include <catch2/catch.hpp>

#include "actors/metrics_registry.hpp"
#include "messages/errors.hpp"

using namespace solver_state;

namespace {

shard_report report(uint32_t shard, uint64_t keys) {
  shard_report r;
  r.shard = shard;
  r.backend = "memory";
  r.keys = keys;
  r.bytes = keys * 10;
  r.results.assign(op_kind_count * result_code_count, 0);
  r.buckets.assign(op_kind_count * bucket_count, 0);
  r.seconds_sum.assign(op_kind_count, 0);
  auto get = static_cast<size_t>(op_kind::get);
  r.results[get * result_code_count] = 3;
  r.results[get * result_code_count
            + static_cast<size_t>(state_errc::not_found)] = 1;
  r.buckets[get * bucket_count + 0] = 2;
  r.buckets[get * bucket_count + bucket_count - 1] = 2;
  r.seconds_sum[get] = 0.25;
  return r;
}

} // namespace

TEST_CASE("counters add up, gauges are summed over shards") {
  metrics_registry m;
  m.add(report(0, 5));
  m.add(report(1, 7));
  m.add(report(0, 4)); // shard 0 now holds 4, not 9
  auto text = m.render();
  CHECK_THAT(text, Catch::Contains("state_operations_total{op=\"get\","
                                   "backend=\"memory\",result=\"ok\"} 9\n"));
  CHECK_THAT(text, Catch::Contains("state_operations_total{op=\"get\","
                                   "backend=\"memory\",result=\"not_found\"} "
                                   "3\n"));
  CHECK_THAT(text, Catch::Contains("state_keys_total{backend=\"memory\"} 11\n"));
  CHECK_THAT(text, Catch::Contains("state_size_bytes{backend=\"memory\"} 110\n"));
  // Histogram buckets are cumulative and end with +Inf == count.
  CHECK_THAT(text, Catch::Contains("state_operation_duration_seconds_bucket{op="
                                   "\"get\",backend=\"memory\",le=\"5e-06\"} "
                                   "6\n"));
  CHECK_THAT(text, Catch::Contains("le=\"+Inf\"} 12\n"));
  CHECK_THAT(text, Catch::Contains("state_operation_duration_seconds_count{op="
                                   "\"get\",backend=\"memory\"} 12\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE state_operation_duration_seconds "
                                   "histogram\n"));
}

TEST_CASE("http counts are rendered with their labels") {
  metrics_registry m;
  m.add(http_report{{http_count{"/v1/state/{key}", "GET", 200, 2}}});
  m.add(http_report{{http_count{"/v1/state/{key}", "GET", 200, 3}}});
  CHECK_THAT(m.render(),
             Catch::Contains("http_requests_total{route=\"/v1/state/{key}\","
                             "method=\"GET\",status=\"200\"} 5\n"));
}
