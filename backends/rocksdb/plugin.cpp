// The "rocksdb" plugin: refuses eviction: lru, opens the shared database
// (moving keys when the shard count changed) and one store per shard above
// every version issued before.

#include "backends/rocksdb/plugin.hpp"

#include <spdlog/spdlog.h>

#include "backends/rocksdb/database.hpp"
#include "backends/rocksdb/store.hpp"
#include "backends/clock_versions.hpp"
#include "backends/data_directory.hpp"
#include "backends/other_engine_store.hpp"
#include "messages/errors.hpp"
#include "util/filesystem_journal.hpp"

namespace solver_state {

namespace {

caf::error base_path_error(const caf::error& err) {
  return make_state_error(code_of(err),
                          "state.rocksdb.base_path: " + message_of(err));
}

class rocksdb_plugin final : public state_backend_plugin {
public:
  std::string_view name() const override { return "rocksdb"; }

  caf::error check(const state_config& cfg) const override {
    auto why = unusable_data_directory(cfg.rocksdb.base_path);
    if (why.empty())
      why = refused_by_rocksdb(cfg.rocksdb.base_path);
    if (why.empty())
      return {};
    return make_state_error(state_errc::backend_error,
                            "state.rocksdb.base_path: " + why);
  }

  // Every store syncs a log and reads from disk: detached shard actors.
  bool blocking() const override { return true; }

  caf::expected<store_list> create_stores(const state_config& cfg) override {
    if (cfg.eviction == eviction_policy::lru)
      return make_state_error(
        state_errc::backend_error,
        "state.eviction: lru is refused for the rocksdb backend, which would "
        "delete durable keys to make room; use eviction: reject or raise "
        "state.max_items");
    if (cfg.shards == 0)
      return make_state_error(state_errc::backend_error,
                              "state.shards: must be at least 1");
    auto db = rocks::database::open(cfg.rocksdb, cfg.shards);
    if (!db)
      return base_path_error(db.error());
    if (auto warning = journal_warning("rocksdb", cfg.rocksdb.base_path,
                                       journal_of(cfg.rocksdb.base_path),
                                       false);
        !warning.empty())
      spdlog::warn("{}", warning);
    auto budget = std::make_shared<key_budget>(cfg.max_items);
    // Above every version of the previous runs, and above the clock so even
    // a wiped directory never brings an old ETag back.
    version_t first_version = clock_micros();
    for (size_t i = 0; i < cfg.shards; ++i) {
      first_version = std::max(first_version,
                               (*db)->totals_at_open(i).last_version);
      budget->take((*db)->totals_at_open(i).keys);
    }
    store_list stores;
    for (size_t i = 0; i < cfg.shards; ++i)
      stores.push_back(std::make_unique<rocksdb_store>(
        *db, static_cast<uint32_t>(i), budget, first_version,
        cfg.rocksdb.fsync));
    return stores;
  }
};

} // namespace

std::unique_ptr<state_backend_plugin> make_rocksdb_plugin() {
  return std::make_unique<rocksdb_plugin>();
}

} // namespace solver_state
