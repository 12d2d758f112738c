#pragma once

// One shard of the file backend (the seed's FileState, made durable):
//  - writes go to the shard's write-ahead log; commit() writes the batch of
//    records applied since the last commit with one write and (fsync:
//    always) one fdatasync: group commit, driven by the shard actor;
//  - checkpoint() folds the log into the file-per-key tree on a background
//    thread (the shard keeps serving): it switches the shard to a fresh log
//    file, writes the keys changed before the switch into the tree, and
//    deletes the old log once the tree is durable;
//  - an in-memory index (version, expiry, size per key) answers list() and
//    reads of absent keys without touching the disk; values not yet folded
//    stay in memory, folded ones are read through an LRU cache.
// A failed commit cuts the log back and undoes the batch in memory, so a
// write that got io_error never reappears, not even after a restart.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <atomic>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "backends/file/cache.hpp"
#include "backends/file/recovery.hpp"
#include "backends/file/tree.hpp"
#include "backends/file/wal.hpp"
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
  /// Backpressure, while a fold runs: past half this many bytes of log not
  /// yet folded, each commit waits for the fold before it is acknowledged,
  /// longer the further past half (backpressure_pause); past all of it,
  /// until the fold is done. The log being written and the one being
  /// folded then stay within this each (plus one batch), and so do the
  /// unfolded values in memory. A fold that cannot run (postponed for want
  /// of space, no new log) or keeps failing waits for no commit: past
  /// unfolded_bytes_refused_at times this, writes are refused instead
  /// (refuse_writes), so memory stays bounded whatever the disk does.
  uint64_t max_unfolded_bytes = 256u << 20;
  /// The generation of `log` (recovered_state::first_log_generation).
  uint64_t log_generation = 0;
  /// Keys whose value file failed its checks at start-up and was moved into
  /// quarantine, with what happened: each answers backend_error until it is
  /// written or deleted.
  std::unordered_map<std::string, quarantine_record> quarantined;
  /// Changes of logs start-up could not fold (recovered_state::unfolded),
  /// this shard's part: unfolded values like any other, in the first fold.
  log_changes unfolded;
  std::shared_ptr<inherited_logs> inherited;
  /// The set number of the key index files (recovered_state::index_set):
  /// what a kept snapshot is bound to; 0 keeps none.
  uint64_t index_set = 0;
  /// The snapshot this shard kept at the last clean stop, as the open read
  /// it (recovered_state::snapshots): take_snapshot hands it over once.
  std::optional<std::string> kept_snapshot;
};

class file_store final : public state_store {
public:
  /// `log` is the shard's fresh log, generation 0; without one (no room on
  /// the disk for it at start) the store is read-only until a probe finds
  /// room and creates it.
  file_store(std::shared_ptr<file_base> base, std::optional<wal_writer> log,
             key_index keys, std::shared_ptr<key_budget> budget,
             file_store_options opts);
  ~file_store() override;

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  /// The live indexed keys and the quarantined ones (listed_quarantine),
  /// in key order.
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  /// A quarantined key that no write has replaced yet: its reads answer
  /// the quarantine's error until it is written or deleted.
  bool damaged_for_good(const std::string& key) const override;
  /// Checks every condition, then applies every op in memory and logs them
  /// as ONE record: a crash keeps the whole transaction or none of it, and
  /// a failed commit() rolls it back with the rest of its batch.
  caf::error transact(std::vector<pending_op>& ops, unix_ms now) override;
  size_t sweep(unix_ms now,
               std::vector<std::string>* expired = nullptr) override;
  bool reports_expiries() const override { return true; }
  bool has_pending_commit() const override;
  caf::error commit() override;
  caf::error checkpoint() override;
  /// Commits the held batch and syncs the log (under every fsync policy);
  /// returns the first error. It does not fold: the next start carries on
  /// from the log, so a stop takes a sync, not a fold of every unfolded
  /// key (minutes after a heavy load). A fold in progress is cancelled.
  caf::error close() override;
  /// close() joined the fold's thread; the lock on base_path goes with
  /// the process.
  bool only_frees_after_close() const override { return true; }
  /// In "~query-S" (index_file.hpp), bound to the key index's set; the
  /// open reads and removes it, take_snapshot hands it over.
  bool keeps_snapshots() const override { return true; }
  caf::error keep_snapshot(std::string bytes) override;
  caf::expected<std::optional<std::string>> take_snapshot() override;
  caf::error health_check() override;
  store_stats stats() const override;

  /// Keys whose latest value is not yet folded into the tree.
  size_t unfolded() const;

  /// How long one commit waits, at most, for a lagging fold: writers slow to
  /// the fold's pace, and reads are served between the waits.
  static constexpr std::chrono::milliseconds backpressure_wait{100};

  /// How long a commit waits for a running fold when `log_bytes` of log
  /// are not yet folded: nothing up to half of `max_unfolded_bytes`, then
  /// in proportion to the way from half to all of it, backpressure_wait at
  /// all of it (past that, a commit waits until the fold is done).
  static std::chrono::microseconds backpressure_pause(
    uint64_t log_bytes, uint64_t max_unfolded_bytes);

  /// Unfolded bytes past which writes are refused, in max_unfolded_bytes:
  /// a fold that keeps up holds at most about two (the log it folds and
  /// the one being written), so only a fold that cannot run reaches three.
  static constexpr uint64_t unfolded_bytes_refused_at = 3;

  /// Waits for the fold in progress, if any; its error. For tests and
  /// benchmarks that need the tree complete.
  caf::error finish_fold();

private:
  /// A key's latest write since the last fold: its new contents or removal.
  using dirty_slot = log_change;

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
  /// Whether `key`'s value is in quarantine and no write or delete of it
  /// waits for its commit.
  bool unsettled_quarantine(const std::string& key) const;
  /// Whether list() yields the quarantined `key`: a read of it answers why
  /// it cannot be read (not indexed, nothing of it waits for its commit).
  bool listed_quarantine(const std::string& key) const;
  /// A delete of such a key, logged: it settles the quarantine once
  /// durable.
  void apply_quarantined_erase(const std::string& key, version_t version);

  /// Makes a logged put of `key` the key's state in memory, undoably (its
  /// key budget is already taken when the key is new).
  void apply_put(const std::string& key, std::string&& value,
                 version_t version, unix_ms expires_at);

  /// Makes a logged erase of the indexed `key` its state in memory,
  /// undoably; the caller gives its key back to the budget.
  void apply_erase(const std::string& key, version_t version);

  /// How many indexed keys a transaction removes and how many it creates
  /// (sets of keys not indexed yet).
  struct key_changes {
    size_t created = 0;
    size_t removed = 0;

    /// The keys it adds to the store net (none when it removes at least
    /// as many as it creates).
    size_t added() const { return created > removed ? created - removed : 0; }
    /// The keys it takes out of the store net.
    size_t freed() const { return removed > created ? removed - created : 0; }
  };

  /// Takes from the budget the keys `ops` creates beyond those it removes
  /// (the keys of a transaction are distinct, so each removal makes room
  /// for one creation, whatever their order), reclaiming keys past their
  /// expiry where needed (take_new_key): all of them, or none and
  /// capacity_exceeded.
  caf::expected<key_changes> take_new_keys(const std::vector<pending_op>& ops,
                                           unix_ms now);

  /// The keys of a transaction's ops, which no reclaim drops.
  using spared_keys = std::unordered_set<std::string_view>;
  static spared_keys keys_of(const std::vector<pending_op>& ops);

  /// Drops the soonest indexed key past its expiry at `now` that the sweep
  /// has not reached yet (not one of `spared`), undoably, giving its key
  /// back to the budget and noting it as a write that meets it does: its
  /// expire event comes before the write's. False when none is due.
  bool reclaim_expired(unix_ms now, const spared_keys& spared);

  /// Takes one key from the budget for a new key, reclaiming keys past
  /// their expiry (not of `spared`) while there is no room: true once
  /// taken; false when none is left to reclaim, having reclaimed none (the
  /// store is full of live keys).
  bool take_new_key(unix_ms now, const spared_keys& spared = {});

  /// Undoes every write of the failed batch, newest first.
  void roll_back();
  /// Undoes the writes of the batch after its first `mark` (undo_.size()
  /// then), newest first.
  void undo_since(size_t mark);
  /// Moves the corrupt value file of the indexed `key` into quarantine and
  /// forgets the key's value; the error its read answers.
  caf::error quarantine_value(const std::string& key, const caf::error& corrupt);
  /// The error of a quarantined key, or none.
  caf::error quarantined_error(const std::string& key) const;
  /// The quarantined keys written or deleted by the batch just committed
  /// are no longer quarantined; their files are settled once the batch is
  /// durable (settle_durable).
  void settle_committed();
  /// `key` was written or deleted: it is no longer quarantined, and its
  /// quarantined files wait in unsettled_files_ for settle_durable.
  void settle_quarantine(const std::string& key);
  /// Every committed write is durable (a log sync covered it, or every
  /// write is in the tree): renames the files of unsettled_files_
  /// NAME.settled. Not while unsynced_log_ says a sync failed: a later one
  /// that succeeds proves nothing of the writes before it.
  void settle_durable();
  /// True when the filesystem has `bytes` free (or cannot tell).
  bool room_for(uint64_t bytes) const;
  /// What a refused write is: deletes get one more max_unfolded_bytes of
  /// backlog than other writes (refuse_past_backlog).
  enum class write_kind { store, remove };
  /// Why a write is refused: the unfolded backlog past its bound, or
  /// insufficient_storage while the store is read-only for want of space
  /// (probing whether it is back first); else nothing, writes may go on.
  caf::error refuse_writes(write_kind kind = write_kind::store);
  /// Read-only for want of space: no log yet (a start on a full disk), or
  /// a write failed with room for none after it.
  bool out_of_space() const;
  /// Clears the read-only state once the filesystem has room for the next
  /// write (creating the log first when the store started without one).
  void probe_space();
  /// The free space a write needs to be worth trying after a failed one:
  /// the next chunk a preallocated log grows by, and some slack.
  uint64_t write_room() const;
  /// The free space a fold needs: every unfolded value in a file of its
  /// own (a block at least), the next log, and some slack. Sums the
  /// unfolded values only when a cheap upper bound does not fit.
  uint64_t fold_room() const;

  /// A fold running on its own thread: the changes it writes (immutable
  /// while it runs, so the shard may read them) and the logs it retires.
  struct fold_job {
    std::unordered_map<std::string, dirty_slot> changes;
    std::vector<std::string> logs;
    /// While inherited logs remain: them, and whether this fold carries
    /// the shard's part of their changes.
    std::shared_ptr<inherited_logs> inherited;
    bool carries_inherited = false;
    bool released_inherited = false; // counted, whatever fails after it
    std::atomic<bool> cancel{false}; // close(): stop before the next file
    /// Inherited logs of some shard are still there: `logs` must stay too
    /// (inherited_logs says why), for a later fold to retire.
    bool logs_kept = false;
    /// It began after a log sync failed (unsynced_log_): once it is done,
    /// the values of that log are durable in the tree.
    bool after_sync_failure = false;
    version_t high_water = 0;
    std::string spare;       // keep the newest log under this name, if set
    bool kept_spare = false; // it did
    std::thread worker;
    std::atomic<bool> done{false};
    caf::error result;
    /// After a fold that succeeded: the `keep_newest` newest values it
    /// wrote (by version, oldest first), for the reap to move into the
    /// cache. Picked on the fold's thread, so the reap visits these few
    /// and not every change (a fold may carry hundreds of thousands).
    size_t keep_newest = 0;
    std::vector<std::pair<const std::string*, dirty_slot*>> newest;
  };

  /// Frees a reaped fold job on a thread of its own: freeing the changes
  /// of a large fold on the shard's thread held every commit behind it (a
  /// reap of 220,000 changes took 217 ms, with the cache's churn that
  /// pick_newest now spares it).
  void dispose(std::unique_ptr<fold_job> job);
  /// Fills job.newest. On the fold's thread, which only reads the changes,
  /// as the shard's reads do meanwhile.
  static void pick_newest(fold_job& job);

  /// The log writes go to after a switch: the spare recycled, or a new one.
  caf::expected<wal_writer> next_log(const std::string& name);

  /// Deletes the logs of a completed fold, keeping one as the spare when
  /// the job asks for it; keeps them all while inherited logs remain. On
  /// the fold's thread.
  static caf::error retire_logs(const file_tree& tree, fold_job& job);

  /// A shard's part of the inherited logs is in the tree: counts it, and
  /// removes the logs when it was the last part. On the fold's thread.
  static caf::error release_inherited(const file_tree& tree,
                                      inherited_logs& inherited);

  /// Starts folding every unfolded key (unless a fold still runs).
  caf::error start_fold();
  /// Moves writes to a new log, retiring the one in use (synced first).
  caf::error switch_log();

  /// After a commit: reaps a finished fold and starts the next once the log
  /// is large enough; failures are logged (checkpoint() reports them too).
  void continue_folding();

  /// Backpressure, after a commit (file_store_options::max_unfolded_bytes):
  /// waits for a lagging fold, then starts the next.
  void wait_while_fold_lags();

  /// Log records not yet in the tree: the log written, the logs a fold
  /// carries, those a failed fold left. Their values are held in memory.
  uint64_t unfolded_bytes() const;

  /// Why writes are refused for the unfolded backlog (file_store_options::
  /// max_unfolded_bytes), or none. Deletes go one max_unfolded_bytes
  /// further: each logs a few bytes, and deleting keys is how an operator
  /// makes room for a fold postponed for want of space (fold_room counts
  /// the live bytes), so refusing them with the rest would lock the store.
  caf::error refuse_past_backlog(write_kind kind) const;

  /// At close, after a log sync failed (unsynced_log_): folds every value
  /// held in memory into the tree, waiting for the folds.
  caf::error fold_what_a_failed_sync_left();
  /// Clears unsynced_log_ once every write is in the tree.
  void forget_unsynced_log_once_folded();

  /// Finishes a completed fold (or waits for it when `wait`): its values
  /// move to the cache; after a failure its changes return to dirty_ and
  /// its logs are kept for the next fold. Only with no uncommitted batch.
  caf::error reap_fold(bool wait);

  /// The unfolded contents of `key` (newest first), or nullptr.
  const dirty_slot* unfolded_slot(const std::string& key) const;

  std::shared_ptr<file_base> base_;
  file_tree tree_;
  std::optional<wal_writer> log_;
  std::string log_name_;
  uint64_t log_generation_ = 0;
  std::vector<std::string> retired_logs_; // their records are only in dirty_
  bool spare_ready_ = false; // a folded log waits to be recycled
  std::unique_ptr<fold_job> fold_;
  /// The thread freeing the last reaped fold (dispose); joined before the
  /// next one starts, at close and at destruction.
  std::thread disposal_;
  std::shared_ptr<key_budget> budget_;
  file_store_options opts_;
  version_t last_version_;
  key_index index_;
  /// The keys with an expiry, soonest first (copies: index_'s entries
  /// move), found by views of keys without a copy.
  struct expiry_order {
    using is_transparent = void;
    using view = std::pair<unix_ms, std::string_view>;
    static view of(const std::pair<unix_ms, std::string>& e) {
      return {e.first, e.second};
    }
    static view of(const view& v) { return v; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return of(a) < of(b);
    }
  };
  std::set<std::pair<unix_ms, std::string>, expiry_order> expiries_;
  std::unordered_map<std::string, dirty_slot> dirty_;
  value_cache cache_;
  uint64_t bytes_ = 0;
  std::string pending_; // log records not yet written
  std::vector<undo_step> undo_;
  caf::error deferred_error_; // a batch failed outside commit()
  caf::error last_error_;     // for health_check
  /// Keys whose value file was moved into quarantine (file_store_options).
  /// Ordered: list() yields them among the indexed keys, in key order.
  std::map<std::string, quarantine_record> quarantined_;
  /// Quarantined keys written or deleted since the last commit: settled by
  /// it (settle_committed), kept by a roll-back (a failed write replaced
  /// nothing, and the key still answers why it cannot be read).
  std::vector<std::string> settling_;
  /// Quarantined files of keys written or deleted by a committed batch,
  /// with their keys, to settle once that batch is durable: under interval
  /// and never a commit does not sync, and a file settled before the write
  /// that replaced it is durable left, after a power loss, the key indexed
  /// at its old version with no value file nor quarantine to say why.
  std::vector<std::pair<std::string, std::vector<std::string>>>
    unsettled_files_;
  caf::error fold_error_;     // of the last fold, reported by checkpoint()
  /// A sync of the log failed (interval): the kernel reports a lost
  /// writeback once, and a later sync of the same log may succeed over the
  /// pages it dropped. Readiness reports it until a fold that began after
  /// it has put the values, held in memory, in the tree.
  caf::error unsynced_log_;
  /// Of the last fold while folds fail (none after one succeeds): why
  /// writes are refused past the backlog's bound.
  caf::error last_fold_failure_;
  /// Records of the retired logs a failed fold left to the next one.
  uint64_t retired_bytes_ = 0;
  bool closed_ = false;
  /// When a fold was last postponed for want of space (logged once a
  /// minute, not at every checkpoint), and whether the last attempt was.
  std::chrono::steady_clock::time_point last_postponed_log_{};
  bool fold_postponed_ = false;
  /// The last failed write found the filesystem without room for the next
  /// one: health_check() clears last_error_ once there is room again. Other
  /// failures (EIO) clear only with a write that succeeds.
  bool failed_for_space_ = false;
  /// Logs start-up could not fold, while any shard still has its part of
  /// them to fold (this one: `inherited_pending_`).
  std::shared_ptr<inherited_logs> inherited_;
  bool inherited_pending_ = false;
  /// Failed commits are logged once per 10 s with a count, not each: a full
  /// disk under load fails thousands a second.
  /// The log syncs' durations since the store opened, per bucket of
  /// duration_bounds, and their sum (store_stats::log_syncs).
  std::vector<uint64_t> sync_buckets_;
  double sync_seconds_ = 0;
  /// Log bytes the running fold carries (0 without one), and the time
  /// commits waited for lagging folds (store_stats).
  uint64_t folding_bytes_ = 0;
  double backpressure_seconds_ = 0;
  std::chrono::steady_clock::time_point last_lag_log_{};
  /// Counts one log sync that took `took`.
  void count_sync(std::chrono::steady_clock::duration took);
  std::chrono::steady_clock::time_point last_failure_log_{};
  size_t failures_unlogged_ = 0;
  /// Logs a failed commit, or counts it (see last_failure_log_).
  void log_commit_failure(const caf::error& err);
};

} // namespace solver_state
