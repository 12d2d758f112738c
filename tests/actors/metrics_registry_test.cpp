// Tests of metrics_registry: counters add up, gauges are summed over shards,
// HTTP counts are rendered with their route/method/status labels; the build
// info and the process metrics are part of every rendering.

#include <algorithm>
#include <ctime>

#include <catch2/catch.hpp>

#include "actors/metrics_registry.hpp"
#include "messages/errors.hpp"
#include "tests/support/shard_reports.hpp"

using namespace solver_state;

namespace {

shard_report report(uint32_t shard, uint64_t keys) {
  auto r = testing::empty_report(shard, keys);
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

TEST_CASE("build info names the version and each reported backend") {
  metrics_registry m;
  CHECK_THAT(m.render(),
             Catch::Contains("# TYPE solver_state_build_info gauge\n"));
  m.add(report(0, 1));
  auto version = build_version();
  CHECK(version == SOLVER_STATE_TEST_VERSION);
  CHECK_THAT(m.render(),
             Catch::Contains("solver_state_build_info{version=\"" + version
                             + "\",backend=\"memory\",allocator=\""
                             + allocator_name() + "\"} 1\n"));
}

TEST_CASE("the allocator gauges show what the allocator counts") {
  auto text = render_allocator_metrics(allocator_usage{1234, 5678});
  CHECK_THAT(text, Catch::Contains(
                     "# TYPE solver_state_allocator_allocated_bytes gauge\n"
                     "solver_state_allocator_allocated_bytes 1234\n"));
  CHECK_THAT(text, Catch::Contains("\nsolver_state_allocator_mapped_bytes 5678\n"));
  CHECK(render_allocator_metrics(std::nullopt).empty());
  // The registry shows them whenever the allocator counts (not under ASan).
  if (allocator_usage_now())
    CHECK_THAT(metrics_registry{}.render(),
               Catch::Contains("\nsolver_state_allocator_allocated_bytes "));
}

TEST_CASE("max_items is a gauge, 0 when the store has no cap") {
  metrics_registry m;
  CHECK_THAT(m.render(), Catch::Contains("\nsolver_state_max_items 0\n"));
  m.set_max_items(10000);
  CHECK_THAT(m.render(), Catch::Contains("# TYPE solver_state_max_items gauge\n"
                                         "solver_state_max_items 10000\n"));
}

TEST_CASE("process metrics are read from /proc/self at render time") {
  auto s = sample_process();
  REQUIRE(s.ok);
  CHECK(s.resident_bytes > 0);
  CHECK(s.open_fds >= 3); // stdin, stdout, stderr at least
  CHECK(s.max_fds >= s.open_fds);
  // Started at most a day ago, and not in the future.
  auto now = static_cast<double>(std::time(nullptr));
  CHECK(s.start_time_seconds <= now + 1);
  CHECK(s.start_time_seconds > now - 86400);
  auto text = metrics_registry{}.render();
  for (auto name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                    "process_open_fds", "process_max_fds",
                    "process_start_time_seconds"}) {
    INFO(name);
    CHECK_THAT(text, Catch::Contains(std::string{"\n"} + name + " "));
  }
  CHECK_THAT(text, Catch::Contains("# TYPE process_cpu_seconds_total counter\n"));
}

TEST_CASE("process metrics are left out when /proc cannot be read") {
  CHECK(render_process_metrics(process_sample{}).empty());
}

TEST_CASE("http request durations are a cumulative histogram per route") {
  metrics_registry m;
  http_duration d{"/v1/state/{key}", "PUT",
                  std::vector<uint64_t>(http_bucket_count, 0), 0.003};
  d.buckets[0] = 2;                     // <= 0.5 ms
  d.buckets[http_bucket_count - 1] = 1; // over 10 s
  m.add(http_report{{}, {d}});
  m.add(http_report{{}, {d}});
  auto text = m.render();
  CHECK_THAT(text, Catch::Contains("# TYPE solver_state_http_request_duration"
                                   "_seconds histogram\n"));
  std::string series = "solver_state_http_request_duration_seconds";
  std::string labels = "{route=\"/v1/state/{key}\",method=\"PUT\"";
  CHECK_THAT(text, Catch::Contains(series + "_bucket" + labels
                                   + ",le=\"0.0005\"} 4\n"));
  CHECK_THAT(text, Catch::Contains(series + "_bucket" + labels
                                   + ",le=\"10\"} 4\n"));
  CHECK_THAT(text, Catch::Contains(series + "_bucket" + labels
                                   + ",le=\"+Inf\"} 6\n"));
  CHECK_THAT(text, Catch::Contains(series + "_sum" + labels + "} 0.006\n"));
  CHECK_THAT(text, Catch::Contains(series + "_count" + labels + "} 6\n"));
}

TEST_CASE("passing 90% of max_items is said once, and again only after the "
          "store fell under 85%") {
  metrics_registry m;
  m.add(testing::empty_report(0, 95));
  CHECK(m.capacity_change().text.empty()); // no cap: nothing to say
  m.set_max_items(100);
  m.set_shard_count(2);
  m.add(testing::empty_report(0, 50));
  m.add(testing::empty_report(1, 39));
  CHECK(m.capacity_change().text.empty()); // 89%
  m.add(testing::empty_report(1, 40));
  auto up = m.capacity_change(); // 90%, summed over the shards
  CHECK(up.warn);
  CHECK_THAT(up.text, Catch::Contains("90 keys of state.max_items=100"));
  m.add(testing::empty_report(1, 45));
  CHECK(m.capacity_change().text.empty()); // still above: said already
  m.add(testing::empty_report(1, 36));
  CHECK(m.capacity_change().text.empty()); // 86%: in the gap
  m.add(testing::empty_report(1, 34));
  auto down = m.capacity_change(); // 84%
  CHECK_FALSE(down.warn);
  CHECK_THAT(down.text, Catch::Contains("back under 85%"));
  m.add(testing::empty_report(1, 41));
  CHECK(m.capacity_change().warn); // 91%: said again
}

TEST_CASE("the fill against max_items is judged only once every shard has "
          "reported, with the keys of them all") {
  // A start: 337 keys over 4 shards, a cap of 100, reports one at a time.
  metrics_registry m;
  m.set_max_items(100);
  m.set_shard_count(4);
  const uint64_t keys[] = {95, 66, 90, 86};
  for (uint32_t shard = 0; shard < 3; ++shard) {
    m.add(testing::empty_report(shard, keys[shard]));
    INFO("after shard " << shard);
    CHECK(m.capacity_change().text.empty());
  }
  m.add(testing::empty_report(3, keys[3]));
  auto note = m.capacity_change();
  CHECK(note.warn);
  CHECK_THAT(note.text, Catch::Contains("store: 337 keys of "
                                        "state.max_items=100"));
  // Said once: later reports of the same store add nothing.
  m.add(testing::empty_report(0, 96));
  CHECK(m.capacity_change().text.empty());
}

TEST_CASE("each shard's last health check is solver_state_backend_up") {
  metrics_registry m;
  auto down = testing::empty_report(1, 0);
  down.backend_up = false;
  m.add(testing::empty_report(0, 0));
  m.add(down);
  auto text = m.render();
  CHECK_THAT(text, Catch::Contains("# TYPE solver_state_backend_up gauge\n"));
  CHECK_THAT(text, Catch::Contains(
                     "solver_state_backend_up{backend=\"memory\",shard=\"0\"} "
                     "1\n"));
  CHECK_THAT(text, Catch::Contains(
                     "solver_state_backend_up{backend=\"memory\",shard=\"1\"} "
                     "0\n"));
  m.add(testing::empty_report(1, 0)); // back up
  CHECK_THAT(m.render(), Catch::Contains("shard=\"1\"} 1\n"));
}

TEST_CASE("log syncs are one histogram per backend: each shard's latest "
          "cumulative report, summed over shards") {
  metrics_registry m;
  m.add(report(0, 1)); // memory: no log, no family
  CHECK_THAT(m.render(), !Catch::Contains("solver_state_wal_sync_seconds"));
  auto file_report = [](uint32_t shard, uint64_t fast, uint64_t slow) {
    auto r = testing::empty_report(shard, 1);
    r.backend = "file";
    r.log_syncs.buckets.assign(bucket_count, 0);
    r.log_syncs.buckets[7] = fast;              // <= 1 ms
    r.log_syncs.buckets[bucket_count - 1] = slow; // > 1 s
    r.log_syncs.seconds = 0.001 * fast + 0.2 * slow;
    return r;
  };
  m.add(file_report(0, 5, 0));
  m.add(file_report(1, 10, 1));
  m.add(file_report(0, 8, 2)); // cumulative: replaces shard 0's 5 and 0
  auto text = m.render();
  CHECK_THAT(text, Catch::Contains("# TYPE solver_state_wal_sync_seconds "
                                   "histogram\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_wal_sync_seconds_bucket{"
                                   "backend=\"file\",le=\"0.0005\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_wal_sync_seconds_bucket{"
                                   "backend=\"file\",le=\"0.001\"} 18\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_wal_sync_seconds_bucket{"
                                   "backend=\"file\",le=\"+Inf\"} 21\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_wal_sync_seconds_count{"
                                   "backend=\"file\"} 21\n"));
  CHECK_THAT(text, !Catch::Contains("solver_state_wal_sync_seconds_bucket{"
                                    "backend=\"memory\""));
}

namespace {

/// The bucket of duration_bounds an observation of `seconds` falls in, as
/// the shards and the backends' log syncs place them.
size_t bucket_of(double seconds) {
  return static_cast<size_t>(std::lower_bound(duration_bounds.begin(),
                                              duration_bounds.end(), seconds)
                             - duration_bounds.begin());
}

/// The cumulative bucket lines from 5 ms up of histogram `series` under
/// `labels`, for 970 observations of 4 ms and 30 of 11 ms.
std::string buckets_from_5ms(const std::string& series,
                             const std::string& labels) {
  std::string out;
  auto line = [&](const char* le, int count) {
    out += series + "_bucket{" + labels + ",le=\"" + le + "\"} "
           + std::to_string(count) + "\n";
  };
  line("0.005", 970);
  line("0.01", 970);
  for (auto le : {"0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"})
    line(le, 1000);
  return out;
}

} // namespace

// Found by review: the buckets went from 10 ms straight to 100 ms, and
// histogram_quantile interpolates inside a bucket, so 30 writes of 11 ms in
// 1000 read as a p99 of 70 ms and fired the 50 ms alerts.
TEST_CASE("the duration histograms have bounds between 10 ms and 1 s, the "
          "alerts' 50 ms among them") {
  auto r = testing::empty_report(0, 1);
  r.backend = "file";
  auto set = static_cast<size_t>(op_kind::set);
  r.buckets[set * bucket_count + bucket_of(0.004)] = 970;
  r.buckets[set * bucket_count + bucket_of(0.011)] = 30;
  r.seconds_sum[set] = 970 * 0.004 + 30 * 0.011;
  r.log_syncs.buckets.assign(bucket_count, 0);
  r.log_syncs.buckets[bucket_of(0.004)] = 970;
  r.log_syncs.buckets[bucket_of(0.011)] = 30;
  metrics_registry m;
  m.add(r);
  auto text = m.render();
  INFO(text);
  CHECK_THAT(text, Catch::Contains(buckets_from_5ms(
                     "state_operation_duration_seconds",
                     "op=\"set\",backend=\"file\"")));
  CHECK_THAT(text, Catch::Contains(buckets_from_5ms(
                     "solver_state_wal_sync_seconds", "backend=\"file\"")));
}

TEST_CASE("the fold's backlog and backpressure are reported per backend, "
          "only for backends that fold") {
  metrics_registry m;
  m.add(report(0, 1)); // memory: no fold, no family
  CHECK_THAT(m.render(), !Catch::Contains("solver_state_unfolded_bytes"));
  auto file_report = [](uint32_t shard, uint64_t unfolded, double waited) {
    auto r = testing::empty_report(shard, 1);
    r.backend = "file";
    r.fold.active = true;
    r.fold.unfolded_bytes = unfolded;
    r.fold.backpressure_seconds = waited;
    return r;
  };
  m.add(file_report(0, 1000, 0.5));
  m.add(file_report(1, 24, 0.25));
  m.add(file_report(0, 76, 1.5)); // the latest report of shard 0 counts
  auto text = m.render();
  CHECK_THAT(text, Catch::Contains("# TYPE solver_state_unfolded_bytes gauge\n"
                                   "solver_state_unfolded_bytes{backend=\"file\"}"
                                   " 100\n"));
  CHECK_THAT(text, Catch::Contains(
                     "# TYPE solver_state_backpressure_seconds_total counter\n"
                     "solver_state_backpressure_seconds_total{backend=\"file\"}"
                     " 1.75\n"));
  CHECK_THAT(text, !Catch::Contains("unfolded_bytes{backend=\"memory\""));
}

TEST_CASE("the change feed's metrics appear only where a feed feeds the "
          "watches: up while it reads, losses counted") {
  metrics_registry m;
  m.add(watch_report{});
  CHECK_THAT(m.render(), !Catch::Contains("solver_state_change_feed"));
  watch_report lost;
  lost.feed = static_cast<uint8_t>(feed_state::lost);
  lost.feed_losses = 1;
  m.add(lost);
  auto text = m.render();
  CHECK_THAT(text, Catch::Contains("\nsolver_state_change_feed_up 0\n"));
  CHECK_THAT(text,
             Catch::Contains("\nsolver_state_change_feed_losses_total 1\n"));
  watch_report back;
  back.feed = static_cast<uint8_t>(feed_state::reading);
  m.add(back);
  m.add(lost);
  text = m.render();
  CHECK_THAT(text, Catch::Contains("\nsolver_state_change_feed_up 0\n"));
  CHECK_THAT(text,
             Catch::Contains("\nsolver_state_change_feed_losses_total 2\n"));
  m.add(back);
  CHECK_THAT(m.render(), Catch::Contains("\nsolver_state_change_feed_up 1\n"));
}

TEST_CASE("rocksdb's compaction state is reported per backend: sizes and "
          "stalls summed over shards, level-0 files of the fullest shard") {
  metrics_registry m;
  m.add(report(0, 1)); // memory: no compactions, no family
  CHECK_THAT(m.render(), !Catch::Contains("solver_state_rocksdb_"));
  auto rocks_report = [](uint32_t shard, uint64_t sst, uint64_t debt,
                         uint64_t level0, uint64_t stalls) {
    auto r = testing::empty_report(shard, 1);
    r.backend = "rocksdb";
    r.compaction.active = true;
    r.compaction.sst_bytes = sst;
    r.compaction.debt_bytes = debt;
    r.compaction.memtable_bytes = sst / 10;
    r.compaction.level0_files = level0;
    r.compaction.write_stalls = stalls;
    return r;
  };
  m.add(rocks_report(0, 5000, 700, 3, 2));
  m.add(rocks_report(1, 1000, 0, 9, 1));
  m.add(rocks_report(0, 4000, 300, 1, 2)); // the latest report of shard 0
  auto text = m.render();
  CHECK_THAT(text,
             Catch::Contains("# TYPE solver_state_rocksdb_sst_bytes gauge\n"
                             "solver_state_rocksdb_sst_bytes{backend="
                             "\"rocksdb\"} 5000\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE solver_state_rocksdb_compaction_"
                                   "debt_bytes gauge\n"
                                   "solver_state_rocksdb_compaction_debt_bytes"
                                   "{backend=\"rocksdb\"} 300\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_rocksdb_memtable_bytes{"
                                   "backend=\"rocksdb\"} 500\n"));
  CHECK_THAT(text, Catch::Contains("solver_state_rocksdb_level0_files{"
                                   "backend=\"rocksdb\"} 9\n"));
  CHECK_THAT(text, Catch::Contains(
                     "# TYPE solver_state_rocksdb_write_stalls_total counter\n"
                     "solver_state_rocksdb_write_stalls_total{backend="
                     "\"rocksdb\"} 3\n"));
  CHECK_THAT(text, !Catch::Contains("rocksdb_sst_bytes{backend=\"memory\""));
}
