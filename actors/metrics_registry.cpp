// Accumulates shard and HTTP counters and renders them as Prometheus text
// 0.0.4: operations, operation durations, keys/bytes gauges, HTTP requests,
// the build info and the process metrics read from /proc/self at render time.

#include "actors/metrics_registry.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "config/cli.hpp"

#include "util/allocator.hpp"
#include "util/prometheus_text.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// Label values are ours (op names, error codes, backend names, routes), but
/// escape anyway so a future label can never break the format.
std::string escape(const std::string& value) {
  return escape_label(value);
}

std::string number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

void header(std::string& out, const char* name, const char* help,
            const char* type) {
  append_family_header(out, name, help, type);
}

/// A family of one unlabelled sample.
void single(std::string& out, const char* name, const char* help,
            const char* type, uint64_t value) {
  header(out, name, help, type);
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

/// The whole of a small /proc file, empty when it cannot be read.
std::string slurp(const char* path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

std::string build_version() {
  // version_text() is "solver-state X.Y.Z\n" (config/cli.cpp gets
  // PROJECT_VERSION as a compile definition); the label wants X.Y.Z.
  auto text = version_text();
  auto space = text.rfind(' ');
  auto v = space == std::string::npos ? text : text.substr(space + 1);
  while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
    v.pop_back();
  return v;
}

process_sample sample_process() {
  process_sample s;
  auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // /proc/self/stat: "pid (comm) state ppid ..."; comm may hold spaces and
  // parentheses, so count fields from the last ')'. After it, field 3 is
  // the state; utime and stime are fields 14 and 15, starttime field 22.
  auto stat = slurp("/proc/self/stat");
  auto paren = stat.rfind(')');
  if (paren == std::string::npos || ticks <= 0 || page <= 0)
    return s;
  std::istringstream fields{stat.substr(paren + 1)};
  std::vector<std::string> f;
  for (std::string x; fields >> x;)
    f.push_back(x);
  // f[0] is field 3.
  if (f.size() < 20)
    return s;
  double utime = 0;
  double stime = 0;
  double start_ticks = 0;
  try {
    utime = std::stod(f[14 - 3]);
    stime = std::stod(f[15 - 3]);
    start_ticks = std::stod(f[22 - 3]);
  } catch (const std::exception&) {
    return s;
  }
  s.cpu_seconds = (utime + stime) / ticks;
  // Start time: boot time (btime in /proc/stat) plus starttime in ticks.
  std::istringstream proc_stat{slurp("/proc/stat")};
  double btime = 0;
  for (std::string line; std::getline(proc_stat, line);)
    if (line.rfind("btime ", 0) == 0)
      btime = std::strtod(line.c_str() + 6, nullptr);
  s.start_time_seconds = btime + start_ticks / ticks;
  // /proc/self/statm: size resident shared ... in pages.
  std::istringstream statm{slurp("/proc/self/statm")};
  double size = 0;
  double resident = 0;
  if (statm >> size >> resident)
    s.resident_bytes = resident * page;
  if (auto* dir = ::opendir("/proc/self/fd")) {
    size_t n = 0;
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(dir);
    s.open_fds = static_cast<double>(n > 0 ? n - 1 : 0); // not the dir's own fd
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0)
    s.max_fds = lim.rlim_cur == RLIM_INFINITY
                  ? 0
                  : static_cast<double>(lim.rlim_cur);
  s.ok = true;
  return s;
}

std::string render_allocator_metrics(
  const std::optional<allocator_usage>& usage) {
  std::string out;
  if (!usage)
    return out;
  header(out, "solver_state_allocator_allocated_bytes",
         "Bytes the service holds in malloc.", "gauge");
  out += "solver_state_allocator_allocated_bytes "
         + std::to_string(usage->allocated) + "\n";
  header(out, "solver_state_allocator_mapped_bytes",
         "Bytes malloc keeps for the service: allocated plus free space not "
         "returned to the kernel yet.",
         "gauge");
  out += "solver_state_allocator_mapped_bytes " + std::to_string(usage->mapped)
         + "\n";
  return out;
}

std::string render_process_metrics(const process_sample& s) {
  std::string out;
  if (!s.ok)
    return out;
  auto one = [&](const char* name, const char* help, const char* type,
                 double value) {
    header(out, name, help, type);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.15g", value); // a start time in full
    out += std::string{name} + " " + buf + "\n";
  };
  one("process_cpu_seconds_total", "Total user and system CPU time spent in "
      "seconds.", "counter", s.cpu_seconds);
  one("process_resident_memory_bytes", "Resident memory size in bytes.",
      "gauge", s.resident_bytes);
  one("process_open_fds", "Number of open file descriptors.", "gauge",
      s.open_fds);
  one("process_max_fds", "Maximum number of open file descriptors.", "gauge",
      s.max_fds);
  one("process_start_time_seconds", "Start time of the process since unix "
      "epoch in seconds.", "gauge", s.start_time_seconds);
  return out;
}

namespace {

/// One series of a histogram: its cumulative buckets (the last one +Inf),
/// its sum and its count, under the labels `common`.
void render_histogram(std::string& out, const std::string& name,
                      const std::string& common,
                      const std::vector<uint64_t>& buckets,
                      const double* bounds, size_t bound_count, double sum) {
  uint64_t cumulative = 0;
  for (size_t b = 0; b < buckets.size(); ++b) {
    cumulative += buckets[b];
    auto le = b < bound_count ? number(bounds[b]) : std::string{"+Inf"};
    out += name + "_bucket{" + common + ",le=\"" + le + "\"} "
           + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum{" + common + "} " + number(sum) + "\n";
  out += name + "_count{" + common + "} " + std::to_string(cumulative)
         + "\n";
}

} // namespace

metrics_registry::capacity_note metrics_registry::capacity_change() {
  // Before every shard has reported, the sum is a part of the store: at a
  // start it said "161 keys" of a store of 337, and the mark, once passed,
  // was not said again with the right count.
  if (max_items_ == 0 || shards_.size() < shard_count_)
    return {};
  uint64_t keys = 0;
  for (auto& [where, shard] : shards_)
    keys += shard.keys;
  auto percent = static_cast<double>(keys) * 100.0
                 / static_cast<double>(max_items_);
  auto what = std::to_string(keys) + " keys of state.max_items="
              + std::to_string(max_items_);
  if (!above_capacity_mark_ && percent >= 90.0) {
    above_capacity_mark_ = true;
    return {"store: " + what + " (90% or more); new keys are refused at the "
                                "cap: raise state.max_items or delete keys",
            true};
  }
  if (above_capacity_mark_ && percent < 85.0) {
    above_capacity_mark_ = false;
    return {"store: back under 85% of its cap: " + what, false};
  }
  return {};
}

void metrics_registry::add(const shard_report& r) {
  shards_[{r.backend, r.shard}] = {r.keys,
                                   r.bytes,
                                   r.quarantined,
                                   r.reencrypt_pending,
                                   r.undecryptable,
                                   r.indexed_keys,
                                   r.index_building,
                                   r.backend_up,
                                   r.log_syncs,
                                   r.fold,
                                   r.compaction};
  for (size_t o = 0; o < op_kind_count; ++o) {
    auto op = to_string(static_cast<op_kind>(o));
    for (size_t c = 0; c < result_code_count; ++c) {
      auto i = o * result_code_count + c;
      if (i < r.results.size() && r.results[i] > 0) {
        auto result = c == 0 ? "ok" : to_string(static_cast<state_errc>(c));
        ops_[{op, r.backend, result}] += r.results[i];
      }
    }
    uint64_t observed = 0;
    for (size_t b = 0; b < bucket_count; ++b) {
      auto i = o * bucket_count + b;
      if (i < r.buckets.size())
        observed += r.buckets[i];
    }
    if (observed == 0)
      continue;
    auto& h = durations_[{op, r.backend}];
    for (size_t b = 0; b < bucket_count; ++b)
      h.buckets[b] += r.buckets[o * bucket_count + b];
    if (o < r.seconds_sum.size())
      h.sum += r.seconds_sum[o];
  }
}

void metrics_registry::add(const http_report& r) {
  for (auto& c : r.counts)
    http_[{c.route, c.method, c.status}] += c.count;
  for (auto& d : r.durations) {
    auto [it, fresh] = http_durations_.try_emplace({d.route, d.method});
    auto& h = it->second;
    if (fresh)
      h.buckets.assign(http_bucket_count, 0);
    for (size_t b = 0; b < http_bucket_count && b < d.buckets.size(); ++b)
      h.buckets[b] += d.buckets[b];
    h.sum += d.seconds_sum;
  }
  http_connections_ = r.connections;
  http_pending_reply_bytes_ = r.pending_reply_bytes;
  http_calls_in_flight_ = r.calls_in_flight;
  http_calls_abandoned_ = r.calls_abandoned;
  for (size_t i = 0; i < refusal_reason_count && i < r.refused_connections.size();
       ++i)
    http_refused_[i] += r.refused_connections[i];
}

void metrics_registry::add(const watch_report& r) {
  watch_.watchers = r.watchers;
  watch_.history_events = r.history_events;
  watch_.history_bytes = r.history_bytes;
  watch_.events += r.events;
  watch_.deliveries += r.deliveries;
  watch_.resyncs += r.resyncs;
  watch_.feed = r.feed;
  watch_.feed_losses += r.feed_losses;
}

namespace {

/// `x` added into `sum`, shard by shard: counts and bytes add up; level 0
/// is the worst shard's (each shard's engine stalls on its own count).
void add_into(log_sync_stats& sum, const log_sync_stats& x) {
  sum.buckets.resize(bucket_count);
  for (size_t b = 0; b < bucket_count; ++b)
    sum.buckets[b] += x.buckets[b];
  sum.seconds += x.seconds;
}

void add_into(fold_stats& sum, const fold_stats& x) {
  sum.unfolded_bytes += x.unfolded_bytes;
  sum.backpressure_seconds += x.backpressure_seconds;
}

void add_into(compaction_stats& sum, const compaction_stats& x) {
  sum.sst_bytes += x.sst_bytes;
  sum.debt_bytes += x.debt_bytes;
  sum.memtable_bytes += x.memtable_bytes;
  sum.level0_files = std::max(sum.level0_files, x.level0_files);
  sum.write_stalls += x.write_stalls;
}

} // namespace

void metrics_registry::render_log_syncs(std::string& out) const {
  std::map<std::string, log_sync_stats> per_backend;
  for (auto& [labels, shard] : shards_)
    if (shard.log_syncs.buckets.size() == bucket_count)
      add_into(per_backend[labels.first], shard.log_syncs);
  if (per_backend.empty())
    return;
  header(out, "solver_state_wal_sync_seconds",
         "Time to write and sync one group commit to the write-ahead log "
         "(fsync: always), or to sync the log (interval), since start.",
         "histogram");
  for (auto& [backend, sum] : per_backend)
    render_histogram(out, "solver_state_wal_sync_seconds",
                     "backend=\"" + escape(backend) + "\"", sum.buckets,
                     duration_bounds.data(), duration_bounds.size(),
                     sum.seconds);
}

void metrics_registry::render_folds(std::string& out) const {
  std::map<std::string, fold_stats> per_backend;
  for (auto& [labels, shard] : shards_)
    if (shard.fold.active)
      add_into(per_backend[labels.first], shard.fold);
  if (per_backend.empty())
    return;
  header(out, "solver_state_unfolded_bytes",
         "Log bytes not yet folded into the key files, summed over shards.",
         "gauge");
  for (auto& [backend, sum] : per_backend)
    out += "solver_state_unfolded_bytes{backend=\"" + escape(backend)
           + "\"} " + std::to_string(sum.unfolded_bytes) + "\n";
  header(out, "solver_state_backpressure_seconds_total",
         "Time acknowledgements waited for a fold that lagged behind the "
         "writes (state.file.max_unfolded_bytes), summed over shards.",
         "counter");
  for (auto& [backend, sum] : per_backend)
    out += "solver_state_backpressure_seconds_total{backend=\""
           + escape(backend) + "\"} " + number(sum.backpressure_seconds)
           + "\n";
}

void metrics_registry::render_compactions(std::string& out) const {
  std::map<std::string, compaction_stats> per_backend;
  for (auto& [labels, shard] : shards_)
    if (shard.compaction.active)
      add_into(per_backend[labels.first], shard.compaction);
  if (per_backend.empty())
    return;
  auto gauge = [&](const char* name, const char* help, const char* type,
                   uint64_t compaction_stats::*field) {
    header(out, name, help, type);
    for (auto& [backend, sum] : per_backend)
      out += std::string{name} + "{backend=\"" + escape(backend) + "\"} "
             + std::to_string(sum.*field) + "\n";
  };
  gauge("solver_state_rocksdb_sst_bytes",
        "Bytes of the engine's sorted files on disk, old versions not yet "
        "compacted away included, summed over shards.",
        "gauge", &compaction_stats::sst_bytes);
  gauge("solver_state_rocksdb_compaction_debt_bytes",
        "Bytes compaction estimates it must still rewrite to bring the "
        "levels to their targets, summed over shards; the engine slows "
        "writes as this grows.",
        "gauge", &compaction_stats::debt_bytes);
  gauge("solver_state_rocksdb_memtable_bytes",
        "Bytes in memtables not yet flushed to sorted files, summed over "
        "shards.",
        "gauge", &compaction_stats::memtable_bytes);
  gauge("solver_state_rocksdb_level0_files",
        "Files in level 0 of the shard that has the most; writes slow down "
        "at 20 and stop at 36.",
        "gauge", &compaction_stats::level0_files);
  gauge("solver_state_rocksdb_write_stalls_total",
        "Times the engine slowed or stopped writes for compaction or "
        "flushes to catch up, since it opened, summed over shards.",
        "counter", &compaction_stats::write_stalls);
}

std::string metrics_registry::render() const {
  std::string out;
  header(out, "state_operations_total",
         "Store operations by type, backend and result.", "counter");
  for (auto& [labels, count] : ops_) {
    auto& [op, backend, result] = labels;
    out += "state_operations_total{op=\"" + escape(op) + "\",backend=\""
           + escape(backend) + "\",result=\"" + escape(result) + "\"} "
           + std::to_string(count) + "\n";
  }
  header(out, "state_operation_duration_seconds",
         "Time from a shard taking an operation to answering it: the backend "
         "call and, for a durable write, its group commit (a transaction over "
         "several shards: from its coordinator taking it).",
         "histogram");
  for (auto& [labels, h] : durations_) {
    auto common = "op=\"" + escape(labels.first) + "\",backend=\""
                  + escape(labels.second) + "\"";
    render_histogram(out, "state_operation_duration_seconds", common,
                     h.buckets, duration_bounds.data(),
                     duration_bounds.size(), h.sum);
  }
  // Sizes and quarantined values are summed over shards per backend (which
  // shard holds a damaged value file does not matter to whoever acts on
  // it: the log names the key).
  std::map<std::string, shard_gauges> per_backend;
  for (auto& [labels, shard] : shards_) {
    auto& sum = per_backend[labels.first];
    sum.keys += shard.keys;
    sum.bytes += shard.bytes;
    sum.quarantined += shard.quarantined;
    sum.reencrypt_pending += shard.reencrypt_pending;
    sum.undecryptable += shard.undecryptable;
    sum.indexed_keys += shard.indexed_keys;
    sum.index_building += shard.index_building;
  }
  // One gauge per backend, summed over its shards.
  auto per_backend_gauge = [&](const char* name, const char* help,
                               uint64_t shard_gauges::*field) {
    header(out, name, help, "gauge");
    for (auto& [backend, sum] : per_backend)
      out += std::string{name} + "{backend=\"" + escape(backend) + "\"} "
             + std::to_string(sum.*field) + "\n";
  };
  per_backend_gauge("state_keys_total", "Keys stored.", &shard_gauges::keys);
  per_backend_gauge("state_size_bytes", "Bytes of keys and values stored.",
                    &shard_gauges::bytes);
  header(out, "solver_state_backend_up",
         "1 when the shard's backend passed its last health check (every "
         "5 s), 0 when it did not: /readyz answers 503 then.",
         "gauge");
  for (auto& [labels, shard] : shards_)
    out += "solver_state_backend_up{backend=\"" + escape(labels.first)
           + "\",shard=\"" + std::to_string(labels.second) + "\"} "
           + (shard.up ? "1" : "0") + "\n";
  per_backend_gauge("state_quarantined_values",
                    "Values whose file failed its checks and was moved into "
                    "quarantine under base_path; each key answers 500 until "
                    "written or deleted.",
                    &shard_gauges::quarantined);
  render_log_syncs(out);
  render_folds(out);
  render_compactions(out);
  per_backend_gauge("state_reencrypt_pending",
                    "Values not yet encrypted under state.encryption.primary "
                    "(at least 1 until every value was looked at once since "
                    "start); an old key may be removed once this reads 0.",
                    &shard_gauges::reencrypt_pending);
  per_backend_gauge("state_undecryptable_values",
                    "Values encrypted under a key that state.encryption.keys "
                    "does not list; each key answers 500 until written or "
                    "deleted.",
                    &shard_gauges::undecryptable);
  per_backend_gauge("state_indexed_keys",
                    "Keys with a field in at least one declared index "
                    "(state.indexes).",
                    &shard_gauges::indexed_keys);
  per_backend_gauge("state_index_build_pending",
                    "Shards still building their indexes from the backend "
                    "at start; queries answer 503 until this reads 0.",
                    &shard_gauges::index_building);
  single(out, "solver_state_max_items",
         "The store's key cap, state.max_items; 0 means none.", "gauge",
         max_items_);
  header(out, "http_requests_total",
         "HTTP requests by route, method and status.", "counter");
  for (auto& [labels, count] : http_) {
    auto& [route, method, status] = labels;
    out += "http_requests_total{route=\"" + escape(route) + "\",method=\""
           + escape(method) + "\",status=\"" + std::to_string(status)
           + "\"} " + std::to_string(count) + "\n";
  }
  header(out, "solver_state_http_request_duration_seconds",
         "Time from an HTTP request's header arriving to its response being "
         "handed to the connection, by route and method.",
         "histogram");
  for (auto& [labels, h] : http_durations_) {
    auto common = "route=\"" + escape(labels.first) + "\",method=\""
                  + escape(labels.second) + "\"";
    render_histogram(out, "solver_state_http_request_duration_seconds",
                     common, h.buckets, http_duration_bounds.data(),
                     http_duration_bounds.size(), h.sum);
  }
  single(out, "solver_state_http_connections",
         "Open HTTP connections (http.max_connections bounds them).",
         "gauge", http_connections_);
  single(out, "solver_state_http_pending_reply_bytes",
         "Bytes of HTTP answers held until their clients have read them "
         "(http.max_pending_reply_bytes bounds them).",
         "gauge", http_pending_reply_bytes_);
  single(out, "solver_state_http_store_calls",
         "Store calls of HTTP requests awaiting their answer "
         "(http.max_in_flight bounds them).",
         "gauge", http_calls_in_flight_);
  single(out, "solver_state_http_abandoned_store_calls",
         "Store calls answered 504 at their deadline whose slot waits for "
         "the store's late reply; they count against http.max_in_flight.",
         "gauge", http_calls_abandoned_);
  // Every reason from the start (0 included), so a rate() over it is
  // defined before the first refusal.
  header(out, "solver_state_http_refused_connections_total",
         "HTTP connections turned away for lack of room: answered 503 "
         "(max_connections, descriptors) or closed idle to admit a new one "
         "(evicted_idle).",
         "counter");
  for (size_t i = 0; i < refusal_reason_count; ++i)
    out += std::string{"solver_state_http_refused_connections_total{reason=\""}
           + to_string(static_cast<refusal_reason>(i)) + "\"} "
           + std::to_string(http_refused_[i]) + "\n";
  single(out, "solver_state_watchers",
         "Watch subscriptions, in process and over HTTP.", "gauge",
         watch_.watchers);
  single(out, "solver_state_watch_history_events",
         "Changes the watch history holds for resuming and slow watchers.",
         "gauge", watch_.history_events);
  single(out, "solver_state_watch_history_bytes",
         "Bytes of the changes the watch history holds.", "gauge",
         watch_.history_bytes);
  single(out, "solver_state_watch_events_total",
         "Committed changes the watch hub numbered.", "counter",
         watch_.events);
  single(out, "solver_state_watch_deliveries_total",
         "Changes handed to watchers (one per watcher that got it).",
         "counter", watch_.deliveries);
  single(out, "solver_state_watch_resyncs_total",
         "Watchers told to resync: dropped for falling behind the history, "
         "or told that changes were lost upstream (a store node's relay, the "
         "engine's change feed).",
         "counter", watch_.resyncs);
  // Only where a shared engine's change feed feeds the watches.
  if (watch_.feed != static_cast<uint8_t>(feed_state::none)) {
    single(out, "solver_state_change_feed_up",
           "1 while the engine's change feed reads, 0 while it is lost "
           "(watches then miss changes made through other nodes; their "
           "watchers resync once it is back).",
           "gauge",
           watch_.feed == static_cast<uint8_t>(feed_state::reading) ? 1u
                                                                     : 0u);
    single(out, "solver_state_change_feed_losses_total",
           "Times the engine's change feed was lost.", "counter",
           watch_.feed_losses);
  }
  // One series per backend the shards reported, so the info appears with
  // the first shard report (within state.sweep_interval of the start).
  std::set<std::string> backends;
  for (auto& entry : shards_)
    backends.insert(entry.first.first);
  header(out, "solver_state_build_info",
         "Always 1; the version of this build, the backend it runs on and "
         "the malloc that serves it.",
         "gauge");
  auto version = escape(build_version());
  auto allocator = escape(allocator_name());
  for (auto& backend : backends)
    out += "solver_state_build_info{version=\"" + version + "\",backend=\""
           + escape(backend) + "\",allocator=\"" + allocator + "\"} 1\n";
  out += render_allocator_metrics(allocator_usage_now());
  out += render_process_metrics(sample_process());
  return out;
}

} // namespace solver_state
