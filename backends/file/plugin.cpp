// The "file" plugin: refuses eviction: lru, locks and recovers base_path,
// and opens one file_store per shard above every version issued before.

#include "backends/file/plugin.hpp"

#include <chrono>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/file/recovery.hpp"
#include "backends/file/store.hpp"
#include "backends/clock_versions.hpp"
#include "backends/data_directory.hpp"
#include "backends/other_engine_store.hpp"
#include "messages/errors.hpp"
#include "util/filesystem_journal.hpp"

namespace solver_state {

namespace {

/// How the keys were found, for the start's log line.
std::string opened_how(const recovered_state& r) {
  if (!r.from_index)
    return "scanned every value file: " + r.scanned_because;
  if (r.removed_temps)
    return "from the key index; walked the tree for the temp files of an "
           "interrupted fold";
  return r.temps_left_to_folds ? "from the key index; the temp files of an "
                                 "interrupted fold are left to the next"
                               : "from the key index";
}

/// An error of the data directory, named by its config field so that an
/// operator knows where to look.
caf::error base_path_error(const caf::error& err) {
  return make_state_error(code_of(err),
                          "state.file.base_path: " + message_of(err));
}

class file_plugin final : public state_backend_plugin {
public:
  std::string_view name() const override { return "file"; }

  caf::error check(const state_config& cfg) const override {
    auto why = unusable_data_directory(cfg.file.base_path);
    if (why.empty())
      why = refused_by_file_backend(cfg.file.base_path);
    if (why.empty())
      return {};
    return make_state_error(state_errc::backend_error,
                            "state.file.base_path: " + why);
  }

  // Every store fsyncs and reads files: detached shard actors.
  bool blocking() const override { return true; }

  caf::expected<store_list> create_stores(const state_config& cfg) override {
    return open_file_stores(cfg, default_file_env());
  }
};

} // namespace

caf::expected<store_list> open_file_stores(const state_config& cfg,
                                           std::shared_ptr<file_env> env) {
  if (cfg.eviction == eviction_policy::lru)
    return make_state_error(
      state_errc::backend_error,
      "state.eviction: lru is refused for the file backend, which would "
      "delete durable keys to make room; use eviction: reject (writes of new "
      "keys then fail with capacity_exceeded) or raise state.max_items");
  if (cfg.shards == 0)
    return make_state_error(state_errc::backend_error,
                            "state.shards: must be at least 1");
  auto started = std::chrono::steady_clock::now();
  auto base = open_base(env, cfg.file.base_path);
  if (!base)
    return base_path_error(base.error());
  recover_options how;
  how.truncate_damaged_log = cfg.file.recover_truncate_log;
  // The shards fold the last run's logs in the background, as they fold
  // their own: a start waits for no fold (a stop does not fold either).
  how.fold_logs = false;
  auto recovered = recover(**base, cfg.shards, how);
  if (!recovered)
    return base_path_error(recovered.error());
  auto budget = std::make_shared<key_budget>(cfg.max_items);
  // Above every version of the previous runs, and above the clock so even a
  // wiped directory never brings an old ETag back.
  auto first_version = std::max(recovered->max_version, clock_micros());
  auto cache_per_shard = (cfg.file.cache_items + cfg.shards - 1) / cfg.shards;
  store_list stores;
  size_t read_only = 0;
  for (size_t i = 0; i < cfg.shards; ++i) {
    auto name = wal_name(i, recovered->first_log_generation);
    auto created = wal_writer::create(env, (*base)->root.get(), name,
                                      cfg.file.base_path + "/" + name,
                                      cfg.file.fsync == fsync_policy::always);
    std::optional<wal_writer> log;
    if (created)
      log = std::move(*created);
    else if (code_of(created.error()) == state_errc::insufficient_storage)
      ++read_only; // the store creates it once there is room
    else
      return base_path_error(created.error());
    for (size_t k = 0; k < recovered->shards[i].size(); ++k)
      budget->take();
    file_store_options opts;
    opts.shard = static_cast<uint32_t>(i);
    opts.fsync = cfg.file.fsync;
    opts.cache_items = cache_per_shard;
    opts.max_unfolded_bytes = cfg.file.max_unfolded_bytes;
    // A fold starts well before backpressure would (at half the limit).
    opts.fold_log_bytes = std::min<uint64_t>(opts.fold_log_bytes,
                                             cfg.file.max_unfolded_bytes / 4);
    opts.first_version = first_version;
    opts.log_generation = recovered->first_log_generation;
    opts.quarantined = std::move(recovered->quarantined[i]);
    opts.unfolded = std::move(recovered->unfolded[i]);
    opts.inherited = recovered->inherited;
    opts.index_set = recovered->index_set;
    if (i < recovered->snapshots.size())
      opts.kept_snapshot = std::move(recovered->snapshots[i]);
    stores.push_back(std::make_unique<file_store>(
      *base, std::move(log), std::move(recovered->shards[i]), budget,
      std::move(opts)));
  }
  if (auto warning = journal_warning("file", cfg.file.base_path,
                                     journal_of(cfg.file.base_path), true);
      !warning.empty())
    spdlog::warn("{}", warning);
  if (read_only > 0)
    spdlog::warn("file backend: the disk under {} is full: {} of {} shards "
                 "have no room for their log and start read-only (reads "
                 "are served, writes answer 507 insufficient_storage); they "
                 "accept writes by themselves once there is room",
                 cfg.file.base_path, read_only, cfg.shards);
  std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                       - started;
  spdlog::info("file backend: opened {} with {} keys in {:.3f} s ({}; {} "
               "log records replayed, {} torn log tails ignored, {} damaged "
               "logs cut dropping {} records)",
               cfg.file.base_path, recovered->keys, took.count(),
               opened_how(*recovered), recovered->log_records,
               recovered->torn_logs, recovered->truncated_logs,
               recovered->truncated_records);
  return stores;
}

std::unique_ptr<state_backend_plugin> make_file_plugin() {
  return std::make_unique<file_plugin>();
}

} // namespace solver_state
