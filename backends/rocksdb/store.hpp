#pragma once

// One shard of the rocksdb backend: its column family of the shared
// database. The shard hands it every operation that arrived meanwhile at
// once (pipelines()): their writes go to RocksDB as one write batch, so one
// trip through RocksDB's write path and one log append serve them all.
// Writes go to the write-ahead log and the memtable at once
// (visible to readers, and in the OS's hands, so a killed process loses
// none); under fsync: always the shard holds their acknowledgements until
// commit() has synced the log, so one sync covers every write of a group.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/key_budget.hpp"
#include "backends/rocksdb/database.hpp"
#include "backends/state_store.hpp"

namespace rocksdb {
class WriteBatch;
} // namespace rocksdb

namespace solver_state {

class rocksdb_store final : public state_store {
public:
  /// Shard `shard` of `db`; versions start after `first_version`.
  rocksdb_store(std::shared_ptr<rocks::database> db, uint32_t shard,
                std::shared_ptr<key_budget> budget, version_t first_version,
                fsync_policy fsync);

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  /// A record this version did not write (one whose head does not decode,
  /// at version 0 included): only a write or a delete of the key changes
  /// what its reads answer. Not a block that fails its checksum: restored
  /// from a backup, its value may come back.
  bool damaged_for_good(const std::string& key) const override;
  bool pipelines() const override { return true; }
  void apply(std::vector<pending_op>& ops, unix_ms now) override;
  caf::error transact(std::vector<pending_op>& ops, unix_ms now) override;
  size_t sweep(unix_ms now,
               std::vector<std::string>* expired = nullptr) override;
  bool reports_expiries() const override { return true; }
  bool failed_commit_keeps_writes() const override { return true; }
  bool has_pending_commit() const override;
  caf::error commit() override;
  caf::error checkpoint() override;
  caf::error close() override;
  /// close() closed the database (the last shard to close does).
  bool only_frees_after_close() const override { return true; }
  /// In "query-S.snapshot" beside the database (snapshot_file.hpp).
  bool keeps_snapshots() const override { return true; }
  caf::error keep_snapshot(std::string bytes) override;
  caf::expected<std::optional<std::string>> take_snapshot() override;
  caf::error health_check() override;
  store_stats stats() const override;

private:
  using stored = rocks::record_head;

  /// What `key` holds now, expired or not; nullopt when nothing.
  caf::expected<std::optional<stored>> peek(const std::string& key);

  /// Adds to `batch` the writes that put `value` under `key` (replacing
  /// `before`) with a new version, and counts them in the totals.
  version_t stage_put(rocksdb::WriteBatch& batch, const std::string& key,
                      const std::string& value, unix_ms expires_at,
                      const std::optional<stored>& before);

  /// Adds to `batch` the removal of `key`, which holds `before`.
  void stage_erase(rocksdb::WriteBatch& batch, const std::string& key,
                   const stored& before);

  /// Adds to `batch` the removal of the next key past its expiry at `now`
  /// that the sweep has not dropped yet, reading the expiry index from
  /// `from` on (and moving it past the key), skipping keys `spared` names,
  /// and gives its key back to the budget: room for a new key in a full
  /// store. The key; nullopt when none is due (or the index cannot be
  /// read).
  std::optional<std::string>
  reclaim_expired(rocksdb::WriteBatch& batch, unix_ms now, std::string& from,
                  const std::function<bool(std::string_view)>& spared);

  /// Writes `batch` with the shard's totals; on failure puts the totals
  /// back to `saved` and returns why.
  caf::error write(rocksdb::WriteBatch& batch,
                   const rocks::shard_totals& saved);

  /// Syncs the log and times it; unsynced_ says whether it failed.
  caf::error sync_timed();

  /// After a write failed for want of space, RocksDB refuses every write
  /// until resumed: asks it to resume (at most once a second), and clears
  /// the error once it did. Empty when writes may go on.
  caf::error resume_after_full_disk();

  /// Logs when the sweep's reading of the expiry index starts or stops
  /// failing (a damaged block).
  void report_sweep_reading(const rocksdb::Status& status);

  std::shared_ptr<rocks::database> db_;
  /// The database's directory (db_ is let go at close, before a snapshot
  /// is kept).
  std::string path_;
  uint32_t shard_;
  std::shared_ptr<key_budget> budget_;
  fsync_policy fsync_;
  rocks::shard_totals totals_;
  /// The totals as the database holds them (the last write's), which the
  /// next open reads: what a snapshot is bound to.
  rocks::shard_totals written_totals_;
  /// Where the next sweep starts: every expiry-index entry before it was
  /// swept (stage_put moves it back for an earlier expiry).
  std::string sweep_from_ = std::string(1, rocks::expiry_tag);
  /// Whether the sweep's last reading of the index succeeded.
  bool sweep_reads_ = true;
  bool pending_ = false;
  /// The last sync failed: writes in the log may not be durable, and the
  /// next checkpoint or close syncs again, written to since or not.
  bool unsynced_ = false;
  bool closed_ = false;
  caf::error last_error_;
  std::chrono::steady_clock::time_point last_resume_{};
  std::vector<uint64_t> sync_buckets_;
  double sync_seconds_ = 0;
};

} // namespace solver_state
