#pragma once

// One shard of the file backend (the seed's FileState, made durable):
//  - writes go to the shard's write-ahead log; commit() writes the batch of
//    records applied since the last commit with one write and (fsync:
//    always) one fdatasync: group commit, driven by the shard actor;
//  - checkpoint() folds the log into the file-per-key tree and trims it;
//  - an in-memory index (version, expiry, size per key) answers list() and
//    reads of absent keys without touching the disk; values not yet folded
//    stay in memory, folded ones are read through an LRU cache.
// A failed commit cuts the log back and undoes the batch in memory, so a
// write that got io_error never reappears, not even after a restart.

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backends/file_cache.hpp"
#include "backends/file_recovery.hpp"
#include "backends/file_tree.hpp"
#include "backends/file_wal.hpp"
#include "backends/key_budget.hpp"
#include "backends/state_store.hpp"
#include "config/config.hpp"

namespace solver_state {

struct file_store_options {
  uint32_t shard = 0;
  fsync_policy fsync = fsync_policy::always;
  size_t cache_items = 0;
  /// Highest version issued before; new versions are above it.
  version_t first_version = 0;
  /// A log larger than this is folded at the next commit, which bounds both
  /// the log and the unfolded values held in memory.
  uint64_t fold_log_bytes = 64u << 20;
};

class file_store final : public state_store {
public:
  file_store(std::shared_ptr<file_base> base, wal_writer log, key_index keys,
             std::shared_ptr<key_budget> budget, file_store_options opts);
  ~file_store() override;

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<version_t> set(set_request&& req, unix_ms expires_at,
                               unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  size_t sweep(unix_ms now) override;
  bool has_pending_commit() const override;
  caf::error commit() override;
  caf::error checkpoint() override;
  caf::error close() override;
  caf::error health_check() override;
  store_stats stats() const override;

  /// Keys whose latest value is not yet folded into the tree.
  size_t unfolded() const { return dirty_.size(); }

private:
  /// A key's latest write since the last fold: its new contents or removal.
  struct dirty_slot {
    bool removed = false;
    entry data;
  };

  /// How to undo one write of the uncommitted batch.
  struct undo_step {
    std::string key;
    std::optional<key_meta> meta;
    std::optional<dirty_slot> dirty;
  };

  static bool expired(const key_meta& m, unix_ms now) {
    return m.expires_at_ms != 0 && m.expires_at_ms <= now;
  }

  /// Sets or removes a key's index entry, keeping expiries_ and bytes_.
  void put_meta(const std::string& key, std::optional<key_meta> meta);

  /// Records the current state of `key` so the batch can be undone.
  void remember(const std::string& key);

  /// Undoes every write of the failed batch, newest first.
  void roll_back();

  /// Writes every unfolded key into the tree, then trims the log.
  caf::error fold();

  std::shared_ptr<file_base> base_;
  file_tree tree_;
  wal_writer log_;
  std::shared_ptr<key_budget> budget_;
  file_store_options opts_;
  version_t last_version_;
  key_index index_;
  // Views into index_'s keys: std::map nodes never move.
  std::set<std::pair<unix_ms, std::string_view>> expiries_;
  std::unordered_map<std::string, dirty_slot> dirty_;
  value_cache cache_;
  uint64_t bytes_ = 0;
  std::string pending_; // log records not yet written
  std::vector<undo_step> undo_;
  caf::error deferred_error_; // a batch failed outside commit()
  caf::error last_error_;     // for health_check
  bool closed_ = false;
};

} // namespace solver_state
