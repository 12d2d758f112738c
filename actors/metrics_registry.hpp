#pragma once

// The metric values themselves, kept by the metrics actor, and their
// rendering as Prometheus text format 0.0.4. A plain class so it can be tested
// without actors.

#include <array>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "messages/metrics.hpp"
#include "messages/watch.hpp"
#include "util/allocator.hpp"

namespace solver_state {

class metrics_registry {
public:
  void add(const shard_report& report);
  void add(const http_report& report);
  void add(const watch_report& report);

  /// The store's key cap (state.max_items; 0 = none) for
  /// solver_state_max_items.
  void set_max_items(uint64_t max_items) { max_items_ = max_items; }

  /// How many shards report (state.shards): the store's fill is judged
  /// only once each of them has.
  void set_shard_count(size_t shards) { shard_count_ = shards; }

  /// A change of the store's fill against max_items since the last call:
  /// a warning once the keys reach 90% of the cap, an info line once they
  /// are back under 85% (the gap keeps a store hovering at 90% from
  /// repeating itself). `warn` tells which; empty when nothing changed,
  /// there is no cap, or not every shard has reported yet (the keys of
  /// those that have are only part of the store's).
  struct capacity_note {
    std::string text;
    bool warn = false;
  };
  capacity_note capacity_change();

  /// The exposition text, ending with a newline: the reported metrics,
  /// solver_state_build_info and the process_* metrics of this process.
  std::string render() const;

private:
  /// solver_state_wal_sync_seconds, summed over the shards of each backend
  /// that has a log (nothing when none has).
  void render_log_syncs(std::string& out) const;
  void render_folds(std::string& out) const;
  /// solver_state_rocksdb_*: the engine's compactions, per backend that
  /// has them (level-0 files the most of any shard, the rest summed).
  void render_compactions(std::string& out) const;

  struct histogram {
    std::vector<uint64_t> buckets = std::vector<uint64_t>(bucket_count);
    double sum = 0;
  };

  // (op, backend, result) -> count
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> ops_;
  // (op, backend) -> histogram
  std::map<std::pair<std::string, std::string>, histogram> durations_;
  // What a shard said in its last report.
  struct shard_gauges {
    uint64_t keys = 0;
    uint64_t bytes = 0;
    uint64_t quarantined = 0;
    uint64_t reencrypt_pending = 0;
    uint64_t undecryptable = 0;
    uint64_t indexed_keys = 0;
    uint64_t index_building = 0;
    bool up = true; // its last health check passed
    // Its engine's upkeep (messages/engine_stats.hpp).
    log_sync_stats log_syncs;
    fold_stats fold;
    compaction_stats compaction;
  };
  // (backend, shard) -> its gauges
  std::map<std::pair<std::string, uint32_t>, shard_gauges> shards_;
  // (route, method, status) -> count
  std::map<std::tuple<std::string, std::string, uint16_t>, uint64_t> http_;
  // (route, method) -> request durations, http_bucket_count buckets
  std::map<std::pair<std::string, std::string>, histogram> http_durations_;
  uint64_t http_connections_ = 0;
  uint64_t http_pending_reply_bytes_ = 0;
  uint64_t http_calls_in_flight_ = 0;
  uint64_t http_calls_abandoned_ = 0;
  // By refusal_reason, since start.
  std::array<uint64_t, refusal_reason_count> http_refused_{};
  // The watch hub: its last sizes and its counters.
  watch_report watch_{};
  uint64_t max_items_ = 0;
  size_t shard_count_ = 1;
  bool above_capacity_mark_ = false;
};

/// What render_process_metrics() shows, read from /proc/self.
struct process_sample {
  double cpu_seconds = 0;      // user + system
  double resident_bytes = 0;   // resident set size
  double open_fds = 0;         // entries of /proc/self/fd
  double max_fds = 0;          // RLIMIT_NOFILE soft limit
  double start_time_seconds = 0; // since the Unix epoch
  bool ok = false;             // false where /proc is unreadable
};

/// Reads this process' CPU time, resident memory, descriptors and start time
/// from /proc/self (Linux). Never throws; `ok` is false without /proc.
process_sample sample_process();

/// The Prometheus client libraries' standard process metrics
/// (process_cpu_seconds_total, process_resident_memory_bytes,
/// process_open_fds, process_max_fds, process_start_time_seconds) for
/// `s`; empty when `s.ok` is false.
std::string render_process_metrics(const process_sample& s);

/// solver_state_allocator_allocated_bytes and _mapped_bytes for `usage`;
/// empty when the allocator cannot say.
std::string render_allocator_metrics(
  const std::optional<allocator_usage>& usage);

/// The version of the build, as `solver-state --version` prints it.
std::string build_version();

} // namespace solver_state
