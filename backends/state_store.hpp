#pragma once

// The seed's StateStore as a plain C++ interface: get, set, delete,
// list(prefix) and batch_get, plus the hooks a shard needs to drive a backend
// (TTL sweep, group commit, checkpoint, health). Backends know nothing of
// actors: a shard actor owns exactly one store and calls it from one thread,
// so implementations need no locks. Blocking implementations are run by
// detached shard actors (see state_backend_plugin::blocking).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/engine_stats.hpp"
#include "messages/errors.hpp"
#include "messages/values.hpp"

namespace solver_state {

/// Sizes reported as state_keys_total and state_size_bytes.
struct store_stats {
  uint64_t keys = 0;
  uint64_t bytes = 0; // keys + values, where the backend knows them
  /// Values moved into quarantine (state_quarantined_values).
  uint64_t quarantined = 0;
  /// Values still encrypted under a key other than the primary one
  /// (state_reencrypt_pending); the old key may go once this reads 0.
  uint64_t reencrypt_pending = 0;
  /// Values under an encryption key that is not configured
  /// (state_undecryptable_values): each answers backend_error.
  uint64_t undecryptable = 0;
  /// The engine's upkeep (messages/engine_stats.hpp): file and rocksdb
  /// sync a log, file folds it, rocksdb compacts.
  log_sync_stats log_syncs;
  fold_stats fold;
  compaction_stats compaction;
};

/// One single-key operation of a pipelined batch (state_store::apply) and,
/// once applied, its outcome. Only the fields of its `kind` are used.
struct pending_op;

/// Calls `run(first_op, count)` for consecutive chunks of `ops` that carry
/// about `max_bytes` of keys and values each (at least one op per chunk):
/// a pipelined backend bounds what one round trip buffers.
void for_each_chunk(std::vector<pending_op>& ops, size_t max_bytes,
                    const std::function<void(pending_op*, size_t)>& run);

struct pending_op {
  enum kind_t : uint8_t { get, set, erase };

  kind_t kind = get;
  std::string key;        // get
  set_request write;      // set (key inside)
  unix_ms expires_at = 0; // set
  delete_request removal; // erase (key inside)

  caf::expected<entry> got{entry{}};
  caf::expected<write_result> written{write_result{}};
  caf::expected<bool> erased{false};

  const std::string& target() const {
    return kind == get ? key : kind == set ? write.key : removal.key;
  }

  /// The outcome as an error; empty on success.
  caf::error failure() const {
    switch (kind) {
      case get: return got ? caf::error{} : got.error();
      case set: return written ? caf::error{} : written.error();
      default: return erased ? caf::error{} : erased.error();
    }
  }

  /// Sets this op's outcome to `err`.
  void fail(const caf::error& err) {
    switch (kind) {
      case get: got = err; break;
      case set: written = err; break;
      default: erased = err; break;
    }
  }
};

class state_store {
public:
  virtual ~state_store();

  /// Backend name for metrics labels and logs ("memory", "file", ...).
  virtual std::string_view backend_name() const = 0;

  /// The live value of `key` at `now`; not_found if absent or expired.
  virtual caf::expected<entry> get(const std::string& key, unix_ms now) = 0;

  /// Writes `req.value` if `req.cond` holds at `now`, with the absolute
  /// expiry `expires_at` (0 = never). Returns the new version, which differs
  /// from every earlier version of this key, and whether the key had no live
  /// value before. version_mismatch when the condition fails;
  /// capacity_exceeded when the store is full.
  virtual caf::expected<write_result> set(set_request&& req,
                                          unix_ms expires_at, unix_ms now)
    = 0;

  /// Removes `req.key` if `req.cond` holds; true if a live value was removed.
  virtual caf::expected<bool> erase(const delete_request& req, unix_ms now) = 0;

  /// Live keys starting with `req.prefix` and greater than `req.after`,
  /// sorted, at most `req.limit` (0 = all), `more` if any are left.
  virtual caf::expected<key_page> list(const list_request& req, unix_ms now)
    = 0;

  /// As list(), but the keys this store's shard owns (shard_index), for
  /// what a shard does to its own keys: building its indexes, deleting by
  /// prefix. The default is list(), which already lists exactly those on
  /// every backend but DynamoDB, whose first shard lists the shared table
  /// for all of them.
  virtual caf::expected<key_page> list_owned(const list_request& req,
                                             unix_ms now);

  /// Entries for `keys` in order; absent or expired keys have version 0.
  /// The default calls get() per key.
  virtual caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now);

  /// True when a read of `key` answers an error that neither a retry nor
  /// another configuration can change, only a write or a delete of the key
  /// (the file backend's quarantine, counted in store_stats::quarantined;
  /// a RocksDB record this version did not write). Asked after a read of
  /// it failed, by the shard's own walks: for them such a key holds no
  /// value (no index entry to read again, no value left under an old
  /// encryption key), while a client's read is still told why it cannot
  /// be read; not counted as undecryptable. The default: none.
  virtual bool damaged_for_good(const std::string& key) const;

  /// True when apply() sends a batch in fewer round trips than one call per
  /// op (network backends): the shard then queues single-key operations
  /// and hands over everything that arrived meanwhile in one batch.
  virtual bool pipelines() const;

  /// Applies `ops` in order, as get/set/erase would one after the other,
  /// storing each op's outcome in it (ops on one key see each other's
  /// effects). The default calls get/set/erase per op.
  virtual void apply(std::vector<pending_op>& ops, unix_ms now);

  /// Applies one op through get/set/erase (one round trip of its own).
  void apply_one(pending_op& op, unix_ms now);

  /// Applies `ops` (sets and erases, each naming a distinct key) all or
  /// nothing: when the condition of any op does not hold at `now`, nothing
  /// is applied and the error is version_mismatch naming that op's key
  /// (see transaction_condition_problem). On success every op holds its
  /// outcome (`written` or `erased`) and the writes wait for commit() like
  /// any other (a durable backend makes them durable as one unit, so a
  /// crash keeps all or none). Backends that share their data between
  /// shards (shares_data) are asked with keys of other shards too.
  ///
  /// A transaction that deletes as many keys as it creates fits a full
  /// store, whatever the order of its ops: max_items counts the keys it
  /// adds net.
  ///
  /// The default checks with get() and applies with set()/erase() in this
  /// shard's one thread, the erases first (they make room for the sets),
  /// putting back what it applied when a later op fails (capacity_exceeded,
  /// io_error): all or nothing for readers of this store, but not across a
  /// crash, and not for readers that reach the same data through another
  /// store. Durable and shared backends override it.
  virtual caf::error transact(std::vector<pending_op>& ops, unix_ms now);

  /// True when the stores of every shard reach the same data (one Redis
  /// database, one PostgreSQL table, one DynamoDB table): a transaction
  /// over keys of several shards can then be applied by one store alone.
  virtual bool shares_data() const;

  /// Drops keys expired at `now`, at most max_sweep_keys (the shard sweeps
  /// again soon when a sweep dropped that many); how many. When `expired`
  /// is given, a backend that reports_expiries() appends the keys it
  /// dropped (the watch hub's expire events). Backends that expire by
  /// themselves (Redis) return 0.
  virtual size_t sweep(unix_ms now, std::vector<std::string>* expired = nullptr);
  /// A sweep's bound: a million keys due at once (a batch written with one
  /// TTL) would otherwise stall the shard and reach the watch hub as one
  /// message larger than its history, which every watcher would miss.
  static constexpr size_t max_sweep_keys = 10'000;

  /// Keys that a write or a delete since the last call found held past
  /// their expiry (the sweep had not dropped them yet), in the order met.
  /// Each is owed an expire event before that write's own: the sweep will
  /// never name it now, and a delete of it reports nothing deleted, so the
  /// watchers and the indexes would otherwise never hear that it expired.
  /// Stores whose sweep reports expiries note them as their writes meet
  /// them (note_expired_by_write), only once the write is applied; the
  /// shard takes them after every call that writes. The default: none.
  virtual std::vector<std::string> take_expired_by_writes();

  /// Keys the store evicted since the last call to admit new keys
  /// (eviction: lru), in the order evicted; not those past their expiry
  /// (take_expired_by_writes names them). An eviction is no change a
  /// watcher hears of, but the shard's indexes must forget the key: they
  /// would otherwise hold every key ever written. The shard takes them
  /// after every call that writes. The default: none.
  virtual std::vector<std::string> take_evicted();

  /// True when sweep() drops every expired key itself and names them: the
  /// shard then learns of expiries from it. Otherwise (the backend expires
  /// keys on its own, or another shard sweeps the shared table) the shard
  /// tracks the expiries of the keys it wrote.
  virtual bool reports_expiries() const;

  /// True when writes since the last commit() are applied but not yet
  /// durable: the shard holds their acknowledgements until commit() returns
  /// (group commit: every write that arrives during one sync shares the next).
  virtual bool has_pending_commit() const;

  /// True when a failed commit() leaves its writes applied (readable, and
  /// perhaps durable later: rocksdb, whose failed sync cannot take back
  /// what its log and memtable hold): their changes still reach the
  /// indexes and watchers, while the writers hear the error. False (the
  /// default) when the store took them back (the file backend).
  virtual bool failed_commit_keeps_writes() const;

  /// Makes pending writes durable.
  virtual caf::error commit();

  /// Periodic maintenance on sync_interval (file backend: fold the log into
  /// the key tree). Called by the shard when the ticker says so.
  virtual caf::error checkpoint();

  /// Does one bounded chunk of background work (re-encrypting values under
  /// the primary key) and returns true while more is left: the shard then
  /// calls it again from the back of its mailbox, so requests are served
  /// between chunks. Called on every tick; the default has none.
  virtual bool background_step(unix_ms now);

  /// The keys the background steps since the last call rewrote without a
  /// client's write (re-encrypted under the primary key): the same value
  /// under a new version, which the shard's indexes must read again or
  /// their queries would take the keys for changed and leave them out.
  /// The default rewrites nothing.
  virtual std::vector<std::string> take_rewritten();

  /// Flushes everything before shutdown.
  virtual caf::error close();

  /// True when, after close(), the destructor would only free memory: no
  /// connection to end, no thread to join, no secret to wipe. A process
  /// that exits next may then leave the store to its exit instead of
  /// destroying it (shard_settings::memory_to_exit). The default: false.
  virtual bool only_frees_after_close() const;

  /// Bytes the shard keeps beside the data from a clean stop to the next
  /// start (its query indexes, so that a start need not read every value
  /// again). keep_snapshot runs after a successful close(). The next open
  /// of the store, whoever opens it (the service, the CLI), reads the
  /// snapshot and removes it from the disk, durably, before any write, so
  /// that no later write or crash can leave one that is older than the
  /// data; take_snapshot hands it over, once. A store whose data others
  /// may change while it is stopped keeps none: the default (keep_snapshot
  /// does nothing, take_snapshot finds nothing).
  virtual bool keeps_snapshots() const;
  virtual caf::error keep_snapshot(std::string bytes);
  virtual caf::expected<std::optional<std::string>> take_snapshot();

  /// Empty when the backend can serve requests. A backend that serves
  /// reads but refuses writes for now (a full disk) fails it too, saying so.
  virtual caf::error health_check();

  virtual store_stats stats() const;

protected:
  void note_expired_by_write(const std::string& key) {
    expired_by_writes_.push_back(key);
  }
  /// How many are noted: a store that undoes a batch's writes drops what
  /// the batch noted (forget_expired_by_writes_after).
  size_t expired_by_writes_noted() const { return expired_by_writes_.size(); }
  void forget_expired_by_writes_after(size_t noted) {
    if (expired_by_writes_.size() > noted)
      expired_by_writes_.resize(noted);
  }
  void note_evicted(const std::string& key) { evicted_.push_back(key); }

private:
  std::vector<std::string> expired_by_writes_;
  std::vector<std::string> evicted_;
};

} // namespace solver_state
