// The "file" plugin: refuses eviction: lru, locks and recovers base_path,
// and opens one file_store per shard above every version issued before.

#include "backends/file/plugin.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "backends/file/recovery.hpp"
#include "backends/file/store.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

version_t clock_micros() {
  return static_cast<version_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

class file_plugin final : public state_backend_plugin {
public:
  std::string_view name() const override { return "file"; }

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
    return std::move(base.error());
  auto recovered = recover(**base, cfg.shards);
  if (!recovered)
    return std::move(recovered.error());
  auto budget = std::make_shared<key_budget>(cfg.max_items);
  // Above every version of the previous runs, and above the clock so even a
  // wiped directory never brings an old ETag back.
  auto first_version = std::max(recovered->max_version, clock_micros());
  auto cache_per_shard = (cfg.file.cache_items + cfg.shards - 1) / cfg.shards;
  store_list stores;
  for (size_t i = 0; i < cfg.shards; ++i) {
    auto name = wal_name(i, 0);
    auto log = wal_writer::create(env, (*base)->root.get(), name,
                                  cfg.file.base_path + "/" + name,
                                  cfg.file.fsync == fsync_policy::always);
    if (!log)
      return std::move(log.error());
    for (size_t k = 0; k < recovered->shards[i].size(); ++k)
      budget->take();
    file_store_options opts;
    opts.shard = static_cast<uint32_t>(i);
    opts.fsync = cfg.file.fsync;
    opts.cache_items = cache_per_shard;
    opts.first_version = first_version;
    stores.push_back(std::make_unique<file_store>(
      *base, std::move(*log), std::move(recovered->shards[i]), budget, opts));
  }
  std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                       - started;
  spdlog::info("file backend: opened {} with {} keys in {:.3f} s ({} log "
               "records replayed, {} torn log tails ignored)",
               cfg.file.base_path, recovered->keys, took.count(),
               recovered->log_records, recovered->torn_logs);
  return stores;
}

std::unique_ptr<state_backend_plugin> make_file_plugin() {
  return std::make_unique<file_plugin>();
}

} // namespace solver_state
