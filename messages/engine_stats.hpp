#pragma once

// What an embedded engine says about its own upkeep, from the backend's
// stats (state_store::stats) through a shard's report to /metrics, one
// struct each way: its log's syncs, the fold of that log into its files
// (file backend), its compactions (rocksdb). A backend that has no such
// work leaves the struct as it is (empty, `active` false).

#include <cstdint>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace solver_state {

/// How long the engine's log syncs took since it opened, cumulative
/// (solver_state_wal_sync_seconds): a count per bucket of duration_bounds
/// (messages/metrics.hpp, the last one +Inf) and the sum. Empty for a
/// backend without a log of its own.
struct log_sync_stats {
  std::vector<uint64_t> buckets{};
  double seconds = 0;
};

/// Log bytes not yet folded into the backend's main files, and how long
/// writes waited for the fold to catch up, cumulative (file backend).
struct fold_stats {
  bool active = false;
  uint64_t unfolded_bytes = 0;
  double backpressure_seconds = 0;
};

/// The engine's own compactions (rocksdb): bytes of its sorted files on
/// disk, old versions included; bytes compaction estimates it must still
/// rewrite to bring the levels to their targets (the debt that makes the
/// engine slow writes down); bytes in memtables; files in level 0 (writes
/// slow at 20, stop at 36); and how often the engine slowed or stopped
/// writes for compaction to catch up, cumulative since it opened.
struct compaction_stats {
  bool active = false;
  uint64_t sst_bytes = 0;
  uint64_t debt_bytes = 0;
  uint64_t memtable_bytes = 0;
  uint64_t level0_files = 0;
  uint64_t write_stalls = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_sync_stats& x) {
  return f(caf::meta::type_name("solver_state::log_sync_stats"), x.buckets,
           x.seconds);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fold_stats& x) {
  return f(caf::meta::type_name("solver_state::fold_stats"), x.active,
           x.unfolded_bytes, x.backpressure_seconds);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, compaction_stats& x) {
  return f(caf::meta::type_name("solver_state::compaction_stats"), x.active,
           x.sst_bytes, x.debt_bytes, x.memtable_bytes, x.level0_files,
           x.write_stalls);
}

} // namespace solver_state
