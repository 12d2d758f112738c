// Opening, re-sharding and closing the shared RocksDB database. Memory is
// bounded by state.rocksdb.cache_bytes: the block cache and the memtables of
// every shard are charged to one LRU cache (a WriteBufferManager on it).

#include "backends/rocksdb/database.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_manager.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>
#include <spdlog/spdlog.h>

#include "backends/rocksdb/snapshot_file.hpp"
#include "backends/other_engine_store.hpp"
#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"

namespace solver_state::rocks {

namespace {

constexpr const char* shard_prefix = "shard-";

/// Moves per write batch when keys change shards: bounds the batch's memory.
constexpr size_t moves_per_batch = 1'000;

std::string shard_name(size_t i) {
  return shard_prefix + std::to_string(i);
}

/// The index of a column family named "shard-N", or -1 for another name.
long shard_of_name(const std::string& name) {
  if (name.rfind(shard_prefix, 0) != 0)
    return -1;
  auto digits = name.substr(std::string{shard_prefix}.size());
  if (digits.empty() || digits.size() > 6
      || !std::all_of(digits.begin(), digits.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  return std::stol(digits);
}

/// The key of the anchor in the default column family (which holds
/// nothing else).
constexpr char anchor_bytes[] = "\0log-switch-anchor";
constexpr std::string_view anchor_key{anchor_bytes, sizeof anchor_bytes - 1};
static_assert(anchor_key.size() == 18);

/// Counts what the log-switch anchor (database::anchor_log_switch) follows:
/// seals of the default column family's memtable (each leaves it empty:
/// the anchor must be written again) and flushes of the shards' memtables
/// (each lets older logs go, unless the anchor's memtable holds them).
class anchor_watch final : public rocksdb::EventListener {
public:
  explicit anchor_watch(std::shared_ptr<database::memtable_events> events)
    : events_(std::move(events)) {
  }

  void OnMemTableSealed(const rocksdb::MemTableInfo& info) override {
    if (info.cf_name == rocksdb::kDefaultColumnFamilyName)
      events_->default_seals.fetch_add(1);
  }

  void OnFlushCompleted(rocksdb::DB*,
                        const rocksdb::FlushJobInfo& info) override {
    if (info.cf_name != rocksdb::kDefaultColumnFamilyName)
      events_->shard_flushes.fetch_add(1);
  }

private:
  std::shared_ptr<database::memtable_events> events_;
};

/// `wanted` when this librocksdb supports it, else no compression.
rocksdb::CompressionType if_supported(rocksdb::CompressionType wanted) {
  auto have = rocksdb::GetSupportedCompressions();
  if (std::find(have.begin(), have.end(), wanted) != have.end())
    return wanted;
  return rocksdb::kNoCompression;
}

/// RocksDB's own log lines, into the service's log. RocksDB writes them to
/// a LOG file under base_path otherwise, and on a full disk that file's
/// second failed append stops the process: Debian's librocksdb 7.8 keeps
/// the assertion that a writer is not used after an error (a core dump of
/// rocksdb_disk_full_test's abort, 2 runs in 14, showed EnvLogger there).
class spdlog_info_log final : public rocksdb::Logger {
public:
  explicit spdlog_info_log(rocksdb::InfoLogLevel level)
    : rocksdb::Logger(level) {
  }

  using rocksdb::Logger::Logv;

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    if (level < GetInfoLogLevel())
      return;
    char line[1024]; // longer lines are cut
    if (std::vsnprintf(line, sizeof line, format, ap) < 0)
      return; // a format it cannot print: the buffer holds nothing defined
    spdlog::log(level_of(level), "rocksdb: {}", line);
  }

private:
  static spdlog::level::level_enum level_of(rocksdb::InfoLogLevel level) {
    switch (level) {
      case rocksdb::InfoLogLevel::DEBUG_LEVEL:
        return spdlog::level::debug;
      case rocksdb::InfoLogLevel::WARN_LEVEL:
        return spdlog::level::warn;
      case rocksdb::InfoLogLevel::ERROR_LEVEL:
      case rocksdb::InfoLogLevel::FATAL_LEVEL:
        return spdlog::level::err;
      default:
        return spdlog::level::info;
    }
  }
};

struct tuned_options {
  rocksdb::DBOptions db;
  rocksdb::ColumnFamilyOptions shard;
};

tuned_options options_for(const rocksdb_config& cfg) {
  tuned_options out;
  auto cache = rocksdb::NewLRUCache(cfg.cache_bytes);
  out.db.create_if_missing = true;
  out.db.create_missing_column_families = true;
  // Memtables are charged to the block cache: both stay within cache_bytes.
  out.db.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(
    cfg.cache_bytes / 2, cache);
  // A stop syncs the log and leaves the memtables to the next open's replay
  // of it: stopping takes no flush of up to cache_bytes / 2.
  out.db.avoid_flush_during_shutdown = true;
  // Old logs are freed once the memtables they cover are flushed.
  out.db.max_total_wal_size = std::max<uint64_t>(cfg.cache_bytes, 64u << 20);
  out.db.max_background_jobs = 2;
  // Tracks free space: after a write failed for want of it, RocksDB resumes
  // by itself once there is room again (rocksdb_disk_full_test).
  out.db.sst_file_manager.reset(
    rocksdb::NewSstFileManager(rocksdb::Env::Default()));
  out.db.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  out.db.info_log =
    std::make_shared<spdlog_info_log>(rocksdb::InfoLogLevel::WARN_LEVEL);
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  out.shard.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // zstd where data settles (most of it), LZ4 above: the upper levels are
  // rewritten often, and on 2 cores zstd there slowed writes under
  // compaction (bench/README.md, "Embedded engines over TCP").
  out.shard.compression = if_supported(rocksdb::kLZ4Compression);
  out.shard.bottommost_compression = if_supported(rocksdb::kZSTD);
  out.shard.level_compaction_dynamic_level_bytes = true;
  out.shard.write_buffer_size = std::clamp<size_t>(cfg.cache_bytes / 4,
                                                   1u << 20, 64u << 20);
  // The level above the last may hold this much, old versions included,
  // before it is merged down: what a store carries on disk beyond its live
  // data. RocksDB's 256 MiB default left 1M 256-byte values (272 MiB live)
  // at 1.9-2.1x Redis's RDB after a load; the size L0 reaches when it is
  // compacted (four memtables, RocksDB's tuning guide) keeps them at
  // 1.2-1.5x with no loss of write rate, where two memtables' worth cost a
  // fifth of it (bench/README.md, "Disk after a load").
  out.shard.max_bytes_for_level_base =
    static_cast<uint64_t>(out.shard.level0_file_num_compaction_trigger)
    * out.shard.write_buffer_size;
  return out;
}

} // namespace

caf::error status_error(const rocksdb::Status& s, const std::string& what) {
  auto message = "rocksdb: " + what + ": " + s.ToString();
  if (s.IsNoSpace())
    return make_state_error(state_errc::insufficient_storage, message);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain())
    return make_state_error(state_errc::backend_unavailable, message);
  return make_state_error(state_errc::backend_error, message);
}

caf::expected<std::shared_ptr<database>>
database::open(const rocksdb_config& cfg, size_t shards) {
  auto started = std::chrono::steady_clock::now();
  // create_if_missing would start an empty database beside them.
  if (auto why = refused_by_rocksdb(cfg.base_path); !why.empty())
    return make_state_error(state_errc::backend_error, why);
  std::error_code ec;
  std::filesystem::create_directories(cfg.base_path, ec);
  if (ec)
    return make_state_error(state_errc::backend_error,
                            "cannot create " + cfg.base_path + ": "
                              + ec.message());
  auto opts = options_for(cfg);
  std::vector<std::string> names;
  auto listed = rocksdb::DB::ListColumnFamilies(opts.db, cfg.base_path,
                                                &names);
  if (!listed.ok())
    names = {rocksdb::kDefaultColumnFamilyName}; // a new database
  // The shards of the last run, then any this run adds.
  size_t existing = 0;
  for (auto& name : names) {
    if (name == rocksdb::kDefaultColumnFamilyName)
      continue;
    auto i = shard_of_name(name);
    if (i < 0)
      return make_state_error(state_errc::backend_error,
                              cfg.base_path + " holds a column family '"
                                + name
                                + "' that solver-state did not write: is it "
                                  "another program's RocksDB database?");
    existing = std::max(existing, static_cast<size_t>(i) + 1);
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> wanted;
  wanted.emplace_back(rocksdb::kDefaultColumnFamilyName, opts.shard);
  for (size_t i = 0; i < std::max(existing, shards); ++i)
    wanted.emplace_back(shard_name(i), opts.shard);
  std::shared_ptr<database> out{new database};
  out->path_ = cfg.base_path;
  opts.db.listeners.push_back(std::make_shared<anchor_watch>(out->events_));
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  auto st = rocksdb::DB::Open(opts.db, cfg.base_path, wanted, &handles,
                              &out->db_);
  if (!st.ok()) {
    if (st.IsIOError() && st.ToString().find("lock") != std::string::npos)
      return make_state_error(state_errc::backend_error,
                              cfg.base_path
                                + " is in use by another process (RocksDB's "
                                  "LOCK file): stop it, or give this one "
                                  "another state.rocksdb.base_path");
    return status_error(st, "cannot open " + cfg.base_path);
  }
  out->default_ = handles[0];
  out->shards_.assign(handles.begin() + 1, handles.end());
  if (auto err = out->read_totals())
    return err;
  // The column families alone cannot say whether the keys were placed by
  // this count: an open that adds shards creates their families before it
  // moves a key, so one stopped midway (a kill, a full disk) leaves the
  // families of the new count around keys placed by the old one. The
  // layout record, written once the move is done, can. A database from
  // before the record has one shard (nothing to move) or is moved again
  // (a no-op for keys already in place).
  auto placed = out->read_layout();
  bool settled = existing == shards
                 && (placed ? *placed == shards : shards == 1);
  size_t moved = 0;
  // Every open takes the shards' snapshots off the disk, whoever opens: one
  // left there could outlive this open's writes. After a change of the
  // shard count they describe the keys of the old layout: none is kept.
  out->snapshots_.resize(shards);
  for (size_t i = 0; settled && i < shards; ++i) {
    auto kept = take_snapshot_file(cfg.base_path, snapshot_file_name(i));
    if (kept && *kept) {
      out->snapshots_[i] = unbind_snapshot(std::move(**kept),
                                           out->totals_[i]);
      if (!out->snapshots_[i])
        spdlog::warn("rocksdb backend: the snapshot of shard {}'s indexes "
                     "was not made of the data it holds now (written since "
                     "by another run or tool); it builds them from the "
                     "values",
                     i);
    } else if (!kept)
      spdlog::warn("rocksdb backend: {}; shard {} builds its indexes from the "
                   "values",
                   message_of(kept.error()), i);
  }
  // What could not be removed above fails here: better no start than one
  // that may later trust a snapshot older than the data.
  if (auto err = remove_snapshot_files(cfg.base_path))
    return err;
  bool record_layout = placed != shards;
  if (!settled && existing != 0) {
    // Cleared before the first key moves: a move stopped midway leaves
    // keys of two layouts, and the next open must move again whatever
    // count it is given, this run's old one included (a re-shard rolled
    // back after a failed start).
    if (placed)
      if (auto err = out->write_layout(0))
        return err;
    if (auto err = out->move_to_owners(shards, &moved))
      return err;
    if (auto err = out->drop_shards_above(shards))
      return err;
    record_layout = true;
  }
  if (record_layout)
    if (auto err = out->write_layout(shards))
      return err;
  uint64_t keys = 0;
  for (auto& t : out->totals_)
    keys += t.keys;
  std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                       - started;
  spdlog::info("rocksdb backend: opened {} with {} keys in {} shards in "
               "{:.3f} s{}",
               cfg.base_path, keys, shards, took.count(),
               moved == 0 ? std::string{}
                          : " (moved " + std::to_string(moved)
                              + " keys from " + std::to_string(existing)
                              + " shards)");
  return out;
}

caf::error database::read_totals() {
  totals_.assign(shards_.size(), shard_totals{});
  for (size_t i = 0; i < shards_.size(); ++i) {
    std::string bytes;
    auto st = db_->Get(rocksdb::ReadOptions{}, shards_[i],
                       meta_key,
                       &bytes);
    if (st.IsNotFound())
      continue;
    if (!st.ok())
      return status_error(st, "reading the totals of shard "
                                + std::to_string(i));
    auto totals = decode_totals(bytes);
    if (!totals)
      return make_state_error(state_errc::backend_error,
                              path_ + ": the totals of shard "
                                + std::to_string(i) + " are damaged");
    totals_[i] = *totals;
  }
  return {};
}

std::optional<size_t> database::read_layout() {
  std::string bytes;
  auto st = db_->Get(rocksdb::ReadOptions{}, shards_[0],
                     rocksdb::Slice{layout_key.data(), layout_key.size()},
                     &bytes);
  if (st.ok() && !bytes.empty() && bytes.size() <= 6
      && std::all_of(bytes.begin(), bytes.end(),
                     [](char c) { return c >= '0' && c <= '9'; }))
    return std::stoul(bytes);
  if (!st.ok() && !st.IsNotFound())
    spdlog::warn("rocksdb backend: reading the layout of {}: {}; every key "
                 "is checked for its shard",
                 path_, st.ToString());
  else if (st.ok())
    spdlog::warn("rocksdb backend: the layout record of {} is damaged; every "
                 "key is checked for its shard",
                 path_);
  return std::nullopt;
}

caf::error database::write_layout(size_t shards) {
  auto st = db_->Put(rocksdb::WriteOptions{}, shards_[0],
                     rocksdb::Slice{layout_key.data(), layout_key.size()},
                     std::to_string(shards));
  if (!st.ok())
    return status_error(st, "recording the shard count");
  return sync_log();
}

caf::error database::move_to_owners(size_t count, size_t* moved) {
  rocksdb::WriteBatch batch;
  size_t in_batch = 0;
  std::vector<bool> touched(shards_.size(), false);
  size_t damaged = 0;
  auto flush = [&]() -> caf::error {
    for (size_t i = 0; i < shards_.size(); ++i)
      if (touched[i])
        batch.Put(shards_[i], meta_key,
                  encode_totals(totals_[i]));
    auto st = db_->Write(rocksdb::WriteOptions{}, &batch);
    batch.Clear();
    in_batch = 0;
    std::fill(touched.begin(), touched.end(), false);
    if (!st.ok())
      return status_error(st, "moving keys between shards");
    return {};
  };
  for (size_t from = 0; from < shards_.size(); ++from) {
    std::unique_ptr<rocksdb::Iterator> it{
      db_->NewIterator(rocksdb::ReadOptions{}, shards_[from])};
    for (it->Seek(first_user_key);
         it->Valid(); it->Next()) {
      auto key = it->key().ToStringView();
      auto to = shard_index(key, count);
      if (to == from)
        continue;
      auto value = it->value();
      // A damaged record moves as it is: its owner reports it on read, as
      // it would have here, and a write replaces it. Failing the open for
      // it would stop the store, and leave the move half done.
      auto expires = record_expiry(value.ToStringView());
      if (!expires && damaged++ == 0)
        spdlog::warn("rocksdb backend: {}: the record of '{}' is damaged; "
                     "moved to its shard as it is",
                     path_, std::string{key});
      batch.Put(shards_[to], it->key(), value);
      batch.Delete(shards_[from], it->key());
      if (expires && *expires != 0) {
        auto index = expiry_key(*expires, key);
        batch.Delete(shards_[from], index);
        batch.Put(shards_[to], index, rocksdb::Slice{});
      }
      auto bytes = key.size() + value.size();
      totals_[from].keys -= 1;
      totals_[from].bytes -= std::min<uint64_t>(totals_[from].bytes, bytes);
      totals_[to].keys += 1;
      totals_[to].bytes += bytes;
      totals_[to].last_version = std::max(totals_[to].last_version,
                                          totals_[from].last_version);
      touched[from] = touched[to] = true;
      ++*moved;
      if (++in_batch == moves_per_batch)
        if (auto err = flush())
          return err;
    }
    if (!it->status().ok())
      return status_error(it->status(), "reading shard " + std::to_string(from));
  }
  if (in_batch > 0)
    if (auto err = flush())
      return err;
  if (damaged > 1)
    spdlog::warn("rocksdb backend: {}: {} damaged records moved as they are",
                 path_, damaged);
  return sync_log();
}

std::optional<std::string> database::take_snapshot(size_t i) {
  if (i >= snapshots_.size())
    return std::nullopt;
  return std::exchange(snapshots_[i], std::nullopt);
}

caf::error database::drop_shards_above(size_t count) {
  // Versions issued by a dropped shard stay below every new one: shard 0
  // keeps the highest before any shard goes.
  for (size_t i = count; i < shards_.size(); ++i)
    totals_[0].last_version = std::max(totals_[0].last_version,
                                       totals_[i].last_version);
  auto kept = db_->Put(rocksdb::WriteOptions{}, shards_[0], meta_key,
                       encode_totals(totals_[0]));
  if (!kept.ok())
    return status_error(kept, "recording the last version");
  if (auto err = sync_log())
    return err;
  while (shards_.size() > count) {
    auto* handle = shards_.back();
    auto st = db_->DropColumnFamily(handle);
    if (!st.ok())
      return status_error(st, "dropping an emptied shard");
    db_->DestroyColumnFamilyHandle(handle);
    shards_.pop_back();
    totals_.pop_back();
  }
  return {};
}

caf::error database::anchor_log_switch() {
  // Why: after a failed log write RocksDB 7.8's Resume() starts a new log
  // only by flushing a memtable that holds data. When every memtable was
  // empty (the write that failed was the first of a new log, as happens
  // when the disk fills at a memtable switch), the failed log writer stays,
  // and the next write to it aborts a RocksDB built with assertions
  // (Debian's) or fails until a restart. An entry kept in the default
  // column family's memtable, written without the log, means resume always
  // has one to flush. Rewritten only after that memtable was sealed.
  //
  // A memtable never flushed keeps every log since it began: the anchor's
  // kept logs up to max_total_wal_size (64 MiB against 18 MiB without it,
  // 256 B writes), to be replayed at the next start. So after a shard's
  // memtable is flushed, the anchor's is too (asynchronously; its seal is
  // done when Flush returns) and the anchor written again below.
  auto flushes = events_->shard_flushes.load();
  if (anchor_follows_flushes_.exchange(flushes) != flushes) {
    rocksdb::FlushOptions in_background;
    in_background.wait = false;
    in_background.allow_write_stall = true;
    auto flushed = db_->Flush(in_background, default_);
    if (!flushed.ok())
      spdlog::debug("rocksdb backend: flushing the log-switch anchor: {}",
                    flushed.ToString());
  }
  auto seals = events_->default_seals.load();
  if (anchored_after_seals_.load() == seals)
    return {};
  rocksdb::WriteOptions no_log;
  no_log.disableWAL = true;
  auto st = db_->Put(no_log, default_,
                     rocksdb::Slice{anchor_key.data(), anchor_key.size()},
                     rocksdb::Slice{});
  if (!st.ok())
    return status_error(st, "writing");
  anchored_after_seals_.store(seals);
  return {};
}

caf::error database::sync_log() {
  auto st = db_->SyncWAL();
  if (!st.ok())
    return status_error(st, "syncing the log");
  return {};
}

compaction_stats database::read_compaction(size_t i) {
  using props = rocksdb::DB::Properties;
  auto* cf = shards_[i];
  auto number = [&](const std::string& name) {
    uint64_t v = 0;
    return db_->GetIntProperty(cf, name, &v) ? v : 0;
  };
  compaction_stats out;
  out.active = true;
  out.sst_bytes = number(props::kTotalSstFilesSize);
  out.debt_bytes = number(props::kEstimatePendingCompactionBytes);
  out.memtable_bytes = number(props::kCurSizeAllMemTables);
  // Level counts and stalls come as text: the first by level, the second
  // in the column family's statistics map (counted since the open).
  std::string text;
  if (db_->GetProperty(cf, props::kNumFilesAtLevelPrefix + "0", &text))
    out.level0_files = std::strtoull(text.c_str(), nullptr, 10);
  std::map<std::string, std::string> stats;
  if (db_->GetMapProperty(cf, props::kCFStats, &stats))
    for (auto* key : {"io_stalls.total_slowdown", "io_stalls.total_stop"})
      if (auto it = stats.find(key); it != stats.end())
        out.write_stalls += std::strtoull(it->second.c_str(), nullptr, 10);
  return out;
}

database::~database() {
  if (!db_)
    return;
  // Stops compactions at their next check instead of waiting them out.
  rocksdb::CancelAllBackgroundWork(db_, true);
  for (auto* handle : shards_)
    db_->DestroyColumnFamilyHandle(handle);
  if (default_)
    db_->DestroyColumnFamilyHandle(default_);
  auto st = db_->Close();
  if (!st.ok())
    spdlog::warn("rocksdb backend: closing {}: {}", path_, st.ToString());
  delete db_;
}

} // namespace solver_state::rocks
