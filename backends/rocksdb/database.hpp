#pragma once

// The one RocksDB database of a store, shared by its shards: a column family
// per shard (so each shard lists and sweeps only its own keys) and one
// write-ahead log for all of them (so one sync covers every shard's writes).
// RocksDB is thread-safe; each shard touches only its own column family.
// The last shard to let go of it closes it.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/rocksdb/record.hpp"
#include "backends/state_store.hpp"
#include "config/config.hpp"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Status;
} // namespace rocksdb

namespace solver_state::rocks {

class database {
public:
  /// Opens base_path (creating it), with one column family per shard. When
  /// the last run had another shard count, first moves every key to the
  /// shard that owns it now, one atomic batch of moves at a time (a crash
  /// midway leaves each key in exactly one shard; the next open goes on,
  /// told by the layout record, written only once every key is in place).
  static caf::expected<std::shared_ptr<database>>
  open(const rocksdb_config& cfg, size_t shards);

  ~database();

  database(const database&) = delete;
  database& operator=(const database&) = delete;

  rocksdb::DB& db() { return *db_; }
  /// state.rocksdb.base_path.
  const std::string& path() const { return path_; }
  rocksdb::ColumnFamilyHandle* shard(size_t i) { return shards_[i]; }
  size_t shard_count() const { return shards_.size(); }

  /// Shard `i`'s snapshot of the last clean stop (snapshot_file.hpp), which
  /// the open read and removed from the disk; nothing the second time.
  std::optional<std::string> take_snapshot(size_t i);

  /// The totals of shard `i` as the open found them.
  const shard_totals& totals_at_open(size_t i) const { return totals_[i]; }

  /// Memtable events a listener counts for anchor_log_switch().
  struct memtable_events {
    std::atomic<uint64_t> default_seals{0};
    std::atomic<uint64_t> shard_flushes{0};
  };

  /// Called before every write: keeps an entry in a memtable, so that a
  /// resume after a failed log write always moves to a new log (see the
  /// .cpp for the RocksDB 7.8 behaviour this works around).
  caf::error anchor_log_switch();

  /// Syncs the write-ahead log: every write before it is durable.
  caf::error sync_log();

  /// Shard `i`'s compactions (messages/engine_stats.hpp says what each
  /// field means), from RocksDB's properties of its column family.
  compaction_stats read_compaction(size_t i);

private:
  database() = default;

  caf::error read_totals();
  /// The shard count of the layout record (record.hpp), or nullopt when
  /// there is none (a new database, or one from before the record) or it
  /// cannot be read.
  std::optional<size_t> read_layout();
  /// Records that every key is placed by `shards`, durably.
  caf::error write_layout(size_t shards);
  caf::error move_to_owners(size_t count, size_t* moved);
  caf::error drop_shards_above(size_t count);

  std::string path_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> shards_;
  std::vector<shard_totals> totals_;
  std::vector<std::optional<std::string>> snapshots_;
  /// What a listener counts for the anchor; the seals there had been when
  /// it was last written (none yet: the first write writes it), and the
  /// shard flushes its memtable last followed.
  std::shared_ptr<memtable_events> events_ =
    std::make_shared<memtable_events>();
  std::atomic<uint64_t> anchored_after_seals_{~uint64_t{0}};
  std::atomic<uint64_t> anchor_follows_flushes_{0};
};

/// A failed RocksDB status as a state error, `what` saying what failed:
/// no space -> insufficient_storage, corruption -> backend_error,
/// busy/timed out -> backend_unavailable, others backend_error.
caf::error status_error(const rocksdb::Status& s, const std::string& what);

} // namespace solver_state::rocks
