// The shard actor: validates keys and runs every operation on its one backend
// store, with pipelined batches, group commit, TTL sweep, metrics reports and
// chunked delete by prefix.

#include "actors/shard.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/detail/test_actor_clock.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/merge.hpp"
#include "actors/query/shard_indexes.hpp"
#include "actors/transaction_rules.hpp"
#include "actors/unsure_outcome.hpp"
#include "actors/watch/change_recorder.hpp"
#include "backends/atomic_batch_read.hpp"
#include "backends/readable_batch.hpp"
#include "backends/shard_placement.hpp"
#include "backends/state_store.hpp"
#include "backends/transaction_check.hpp"
#include "messages/keys.hpp"
#include "util/kept_until_exit.hpp"
#include "util/wall_clock.hpp"

namespace solver_state {

namespace {

/// Operation counters since the last report, in shard_report's layout.
struct op_tally {
  std::vector<uint64_t> results =
    std::vector<uint64_t>(op_kind_count * result_code_count);
  std::vector<uint64_t> buckets =
    std::vector<uint64_t>(op_kind_count * bucket_count);
  std::vector<double> seconds = std::vector<double>(op_kind_count);

  void add(op_kind op, state_errc code, double elapsed) {
    auto o = static_cast<size_t>(op);
    auto c = std::min(static_cast<size_t>(code), result_code_count - 1);
    ++results[o * result_code_count + c];
    size_t b = 0;
    while (b < duration_bounds.size() && elapsed > duration_bounds[b])
      ++b;
    ++buckets[o * bucket_count + b];
    seconds[o] += elapsed;
  }
};

using steady = std::chrono::steady_clock;

/// The other half of a queued pending_op: its start time for the metrics
/// and the continuation that answers the request with its outcome.
struct queued_reply {
  steady::time_point started;
  std::function<void(pending_op&)> done;
  /// A read of a key the engine's feed said changed, for the indexes (no
  /// caller, not counted as a get).
  bool index_read = false;
};

/// Bound on one pipelined batch: the shard flushes at once when this many
/// operations wait, so neither the queue nor one round trip grows unbounded.
constexpr size_t max_batch = 256;

/// Keys one step of a prefix deletion lists and erases at most before the
/// shard turns back to its mailbox: small enough that a request queued
/// behind a step waits well under a millisecond on a local backend (one
/// round trip for the listing and one pipelined batch on Redis or
/// PostgreSQL), large enough that a million keys take about two thousand
/// steps.
constexpr uint32_t delete_prefix_chunk = 512;

/// A backend that erases one key per round trip (DynamoDB: a DeleteItem
/// each) would take seconds over 512 keys: each step after the first is
/// sized from the pace of the one before to take about this long, and the
/// first, whose pace is unknown, takes few keys.
constexpr std::chrono::milliseconds deletion_step_time{50};
constexpr uint32_t deletion_first_chunk = 16;

/// A deletion with a limit (the HTTP gateway's calls, a cluster peer's)
/// answers `more` after about this much work even below its limit, so a
/// call answers well within http.request_timeout and node.request_timeout
/// whatever the backend's pace; its caller calls again.
constexpr std::chrono::milliseconds deletion_call_time{1'000};

/// A prefix deletion in progress: one list-and-erase step per delete_step
/// message, each after the last key the step before handled, until the
/// listing ends or the request's limit is reached. Memory is bounded by one
/// chunk whatever the number of keys.
struct prefix_deletion {
  delete_prefix_request req;
  caf::typed_response_promise<delete_prefix_result> rp;
  /// When the shard took it: state_operation_duration_seconds counts from
  /// here to its answer.
  std::chrono::steady_clock::time_point started;
  /// The cursor: the last key handled.
  std::string after;
  /// Keys the next step lists and erases at most (deletion_step_time).
  uint32_t chunk = deletion_first_chunk;
  /// Keys listed and erased so far (the limit counts these).
  uint64_t handled = 0;
  /// Of them, live values removed (the answer).
  uint64_t deleted = 0;
  /// Set when a group commit took back erases of an earlier step.
  caf::error failure;
};

struct shard_state {
  static inline const char* name = "solver-state.shard";

  std::shared_ptr<state_store> store;
  shard_settings settings;
  wall_clock clock;
  op_tally tally;
  /// The last health check's outcome (on_health_tick).
  bool backend_up = true;
  /// Re-reads of keys into the indexes the shard sent itself and has not
  /// handled yet (queue_reindex).
  size_t reindexes_queued = 0;
  /// Acknowledgements held until the next commit (group commit).
  std::vector<std::function<void(const caf::error&)>> pending_acks;
  /// Single-key operations queued for the store's next pipelined batch, and
  /// for each: when it arrived and what to do with its outcome.
  std::vector<pending_op> batch;
  std::vector<queued_reply> batch_replies;
  /// The batch being applied. Swapped with `batch`, so both keep their
  /// capacity: a pending_op is large, and regrowing the queue for every
  /// batch was a visible share of a Redis shard's malloc time.
  std::vector<pending_op> applying;
  std::vector<queued_reply> applying_replies;
  /// Reads that arrived while writes waited for their group commit, run
  /// once it is done (no dirty reads). Called with the error that failed
  /// the shard instead, when it fails.
  std::vector<std::function<void(const caf::error*)>> deferred_reads;
  /// A background_step_atom is on its way (state_store::background_step).
  bool background_running = false;
  /// The last sweep stopped at its bound with more keys due: the background
  /// steps go on with it.
  bool sweep_unfinished = false;
  /// A commit_atom is on its way: it flushes the batch, then commits.
  bool drain_scheduled = false;
  /// Laps the pending drain made through the mailbox (see on_commit).
  int drain_laps = 0;
  bool closed = false;
  /// Scratch space of batch_problem's duplicate check.
  std::vector<std::string_view> batch_keys_sorted;
  /// Prefix deletions in progress, by the id their steps carry.
  std::map<uint64_t, prefix_deletion> deletions;
  uint64_t last_deletion_id = 0;
  /// The erase operations of one deletion step (kept for their capacity).
  std::vector<pending_op> deletion_ops;
  /// Changes applied since the last group commit, for the watch hub.
  change_recorder changes;
  /// Copies of the keys and values of the batch being applied.
  std::vector<change_copy> copies;
  /// The declared indexes (null when none), and how many of the staged
  /// changes they hold already (those whose writes needed no commit).
  std::unique_ptr<shard_indexes> indexes;
  size_t indexed = 0;

  bool watched() const {
    return settings.hub && settings.changes_to_hub;
  }
  /// Changes are recorded for the watch hub, the indexes, or both.
  bool recording() const { return watched() || indexes; }

  /// A resync the watchers are owed, sent with the next changes published
  /// (send_owed_resync); empty when none.
  std::string resync_owed;

  ~shard_state() {
    if (store && !closed)
      store->close();
  }

  unix_ms expiry_for(const set_request& req, unix_ms now) const {
    if (req.expires_at_ms > 0)
      return req.expires_at_ms;
    auto ttl_ms = req.ttl_ms;
    if (ttl_ms == default_ttl)
      ttl_ms = settings.default_ttl_ms;
    if (ttl_ms <= 0)
      return 0;
    // Saturate: a CAF sender may ask for any int64 TTL, and now + ttl_ms
    // would overflow (undefined, and a wrapped expiry is already past).
    constexpr auto latest = std::numeric_limits<unix_ms>::max();
    return ttl_ms > latest - now ? latest : now + ttl_ms;
  }
};

using shard_ptr = shard_actor::stateful_pointer<shard_state>;

unix_ms now_of(shard_ptr self) {
  auto& clock = self->state.clock;
  auto steps = clock.steps();
  auto now = clock.at(self->clock().now());
  if (clock.steps() != steps)
    spdlog::warn("shard {}: the system clock stepped by {} ms; TTLs follow it",
                 self->state.settings.index, clock.last_step());
  return now;
}

/// Whether a test's clock drives the actor clock: time then moves only
/// when the test says, and the system clock is not followed.
bool driven_by_test(shard_ptr self) {
  return dynamic_cast<caf::detail::test_actor_clock*>(&self->clock())
         != nullptr;
}

/// Counts one operation's outcome and latency.
template <class T>
void record(shard_ptr self, op_kind op, const caf::expected<T>& outcome,
            steady::time_point started) {
  std::chrono::duration<double> elapsed = steady::now() - started;
  auto code = outcome ? state_errc::none : code_of(outcome.error());
  self->state.tally.add(op, code, elapsed.count());
}

/// Makes sure one commit_atom is on its way: it runs after the messages
/// already in the mailbox, so everything that arrives meanwhile shares one
/// pipelined batch and one commit.
void schedule_drain(shard_ptr self) {
  auto& st = self->state;
  if (!st.drain_scheduled) {
    st.drain_scheduled = true;
    self->send(self, commit_atom_v);
  }
}

// -- watches ----------------------------------------------------------------------

/// Feeds the indexes the staged changes they do not hold yet.
void index_staged(shard_ptr self) {
  auto& st = self->state;
  if (!st.indexes)
    return;
  auto& staged = st.changes.staged();
  for (; st.indexed < staged.size(); ++st.indexed)
    st.indexes->apply(staged[st.indexed]);
}

/// After recording a change: the next drain (group commit) sends it to the
/// hub, once it is durable. A write that needs no commit is acknowledged at
/// once, so the indexes take it at once (a query sent after the answer sees
/// it); the others wait for their commit like the acknowledgements.
void changed(shard_ptr self) {
  auto& st = self->state;
  if (st.changes.empty() && st.resync_owed.empty())
    return;
  if (!st.store->has_pending_commit())
    index_staged(self);
  schedule_drain(self);
}

/// Tells the watchers to resync when a change could not be recorded
/// (record_current_state): after the changes staged with it, which the
/// hub then numbers before the gap, so none comes after the resync over
/// state a watcher has read again.
void send_owed_resync(shard_ptr self) {
  auto& st = self->state;
  if (st.resync_owed.empty())
    return;
  if (st.watched())
    self->send(st.settings.hub, resync_atom_v, st.resync_owed, false);
  st.resync_owed.clear();
}

/// Hands the recorded changes to the indexes and the hub: called once the
/// writes that made them are durable (a failed commit discards them
/// instead).
void publish_changes(shard_ptr self) {
  auto& st = self->state;
  index_staged(self);
  st.indexed = 0;
  if (!st.changes.empty()) {
    if (st.watched())
      self->send(st.settings.hub, changes_atom_v, st.changes.take());
    else
      st.changes.discard();
  }
  send_owed_resync(self);
}

/// Forgets the recorded changes: the store took their writes back.
void discard_changes(shard_ptr self) {
  self->state.changes.discard();
  self->state.indexed = 0;
  send_owed_resync(self);
}

/// Makes the indexes forget the keys the store evicted to admit new ones
/// (eviction: lru). An eviction is no change for the watchers (docs/api.md:
/// an LRU eviction is not a delete), but indexes that kept the keys grew
/// with every key ever written, and a query paged through evicted keys,
/// page after empty page, before it reached a live one. The memory store,
/// the only one that evicts, holds no write for a commit: the changes
/// staged before are indexed already, so none puts an evicted key back.
void forget_evicted(shard_ptr self) {
  auto& st = self->state;
  auto keys = st.store->take_evicted();
  if (st.indexes)
    for (auto& key : keys)
      st.indexes->forget(key);
}

/// Stages the expire events a write owes before its own: of every key the
/// store's writes found held past its expiry (the sweep had not reached
/// it), and, where the backend expires keys by itself, of every tracked
/// expiry that has passed (a put would stop tracking it unheard). Called
/// right after every store call that writes, so that each comes before the
/// change of the write that met it, never after a later one. The indexes
/// forget the keys the call evicted, too.
void owe_expiries(shard_ptr self) {
  auto& st = self->state;
  forget_evicted(self);
  auto keys = st.store->take_expired_by_writes();
  if (!st.recording())
    return;
  for (auto& key : keys)
    st.changes.expired(std::move(key));
  if (!st.store->reports_expiries()
      && st.changes.expire_due(now_of(self), state_store::max_sweep_keys))
    st.sweep_unfinished = true; // the next sweep goes on with the rest
}

/// Copies the keys and values of `ops` before the store takes them.
void copy_for_watchers(shard_ptr self, const std::vector<pending_op>& ops) {
  if (self->state.recording())
    change_recorder::copy(ops, self->state.copies);
}

/// Asks the shard itself to read `keys` into the indexes again, after what
/// is queued before it. Counted until handled: a stop (whose exit goes
/// ahead of the mailbox, store.cpp) would leave it unhandled, and the
/// indexes kept for the next start would hold what the keys held before
/// their unsure writes (keep_indexes).
void queue_reindex(shard_ptr self, batch_request keys) {
  ++self->state.reindexes_queued;
  self->send(self, reindex_atom_v, std::move(keys));
}

/// The indexes read back the keys of writes that failed but may have been
/// applied, once the shard's writes are committed (reindex_atom drains
/// first): they follow what the store holds, not what a write meant to
/// do. With an engine's change feed they would hear of such a write; with
/// none (watches=local), nothing else would tell them.
void reindex_unsure_writes(shard_ptr self, std::vector<std::string> keys) {
  if (keys.empty() || !self->state.indexes)
    return;
  queue_reindex(self, batch_request{std::move(keys)});
}

/// The keys of `ops` (as copied before the store took them) whose write
/// failed but may have been applied.
std::vector<std::string> unsure_writes(const std::vector<pending_op>& ops,
                                       const std::vector<change_copy>& copies) {
  std::vector<std::string> out;
  for (size_t i = 0; i < ops.size() && i < copies.size(); ++i) {
    auto& op = ops[i];
    if (op.kind == pending_op::get)
      continue;
    if (auto err = op.failure(); err && may_have_applied(err))
      out.push_back(copies[i].key);
  }
  return out;
}

/// Every key of a transaction (as copied before the store took them): when
/// it failed but may have been applied, an outcome the store could not
/// learn (its reply lost, out of time) says nothing of which ops applied.
std::vector<std::string>
keys_of_transaction(const std::vector<change_copy>& copies) {
  std::vector<std::string> out;
  out.reserve(copies.size());
  for (auto& copy : copies)
    out.push_back(copy.key);
  return out;
}

/// Records what `ops` changed (copy_for_watchers ran before the store).
void record_changes(shard_ptr self, const std::vector<pending_op>& ops) {
  auto& st = self->state;
  owe_expiries(self);
  if (!st.recording())
    return;
  if (st.indexes)
    reindex_unsure_writes(self, unsure_writes(ops, st.copies));
  st.changes.record(ops, st.copies);
  changed(self);
}

/// After a transaction was put back (each key restored at a new version)
/// or could not be put back whole: reads each key of `prior` back and
/// records what it holds now, so that the indexes and the watchers follow
/// the store rather than what the transaction meant to do. A key that
/// holds its prior version again, or stays absent, is left out. A key that
/// cannot be read is read again later by the indexes, and the watchers are
/// told to resync: what it holds now is an event they may never get.
void record_current_state(shard_ptr self,
                          const std::vector<prior_entry>& prior) {
  auto& st = self->state;
  if (!st.recording())
    return;
  auto now = now_of(self);
  size_t failed = 0;
  caf::error first_failure;
  for (auto& p : prior) {
    auto got = st.store->get(p.key, now);
    if (got) {
      if (!p.before.found() || got->version != p.before.version)
        st.changes.put(p.key, got->version, std::move(got->value),
                       got->expires_at_ms);
    } else if (code_of(got.error()) == state_errc::not_found) {
      // A prior entry whose expiry has passed since was put back expired:
      // it expired, it was not deleted. A store whose sweep reports
      // expiries says so when it drops it; for the others (the backend
      // expires keys itself) it is said now, as the recorder no longer
      // tracks the old expiry (the transaction's write replaced it).
      bool expired_since = p.before.expires_at_ms != 0
                           && p.before.expires_at_ms <= now;
      if (p.before.found() && !expired_since)
        st.changes.erase(p.key);
      else if (p.before.found() && !st.store->reports_expiries())
        st.changes.expired(p.key);
    } else {
      if (st.indexes)
        st.indexes->read_later(p.key, got.error(), now);
      if (failed++ == 0)
        first_failure = std::move(got.error());
    }
  }
  if (failed == 0)
    return;
  auto why = "shard " + std::to_string(st.settings.index) + ": "
             + std::to_string(failed)
             + " keys of a transaction put back could not be read back ("
             + message_of(first_failure) + ")";
  spdlog::warn("{}; the indexes read them again later{}", why,
               st.watched() ? ", watchers are told to resync" : "");
  if (st.watched())
    st.resync_owed = why + ": changes to them may be missing; read the "
                           "state again";
}

/// A prior entry found at a version unknown here: any version read back
/// differs from it.
const entry found_at_unknown_version{
  {}, std::numeric_limits<version_t>::max(), 0};

/// After a store's own transaction failed: records what each key of an op
/// the store reports applied holds now, for the indexes and the watchers.
/// A store that rolls back whole reports none applied (PostgreSQL resets
/// the outcomes; file, rocksdb and DynamoDB set them only on success); the
/// default transact (memory) reports the ops it applied and then put back,
/// each such key at a new version, or still holding what the transaction
/// wrote when it was partly applied; Redis reports its script's outcomes
/// when it applied and then failed (replicas short of acknowledging).
/// Of a key's prior entry only what its op implies is known: a set that
/// applied may have created the key, an erase that applied found it.
void record_put_back(shard_ptr self, const std::vector<pending_op>& ops) {
  auto& st = self->state;
  std::vector<prior_entry> touched;
  for (size_t i = 0; i < ops.size() && i < st.copies.size(); ++i) {
    auto& op = ops[i];
    if (op.kind == pending_op::set && op.written && op.written->version != 0)
      touched.push_back(prior_entry{std::move(st.copies[i].key), entry{}});
    else if (op.kind == pending_op::erase && op.erased && *op.erased)
      touched.push_back(
        prior_entry{std::move(st.copies[i].key), found_at_unknown_version});
  }
  st.copies.clear();
  record_current_state(self, touched);
}

/// Re-encrypted keys hold the same values at new versions: recorded as
/// puts like any write's, once durable. Otherwise a query would take a key
/// for changed since it found it and leave it out of its page, and a
/// watcher's client would keep a version its next If-Match fails on. (An
/// engine feed reports them to the watchers by itself; the indexes still
/// learn them here.)
void record_rewritten(shard_ptr self, std::vector<std::string> moved) {
  auto& st = self->state;
  if (moved.empty() || !st.recording())
    return;
  std::vector<prior_entry> rewritten;
  rewritten.reserve(moved.size());
  for (auto& key : moved)
    rewritten.push_back(prior_entry{std::move(key), found_at_unknown_version});
  record_current_state(self, rewritten);
  changed(self);
}

template <class T>
void deliver(caf::typed_response_promise<T>& rp, caf::expected<T>&& outcome) {
  if (outcome)
    rp.deliver(std::move(*outcome));
  else
    rp.deliver(std::move(outcome.error()));
}

/// Counts a write `op` that started at `started` and ended with `code`.
void record_write(shard_ptr self, op_kind op, state_errc code,
                  steady::time_point started) {
  std::chrono::duration<double> elapsed = steady::now() - started;
  self->state.tally.add(op, code, elapsed.count());
}

/// Answers a write's `rp` and counts it: now, or once the store's pending
/// writes are durable. Either way the duration counted is the one its
/// caller waited, the group commit included.
template <class T>
void hold_or_deliver(shard_ptr self, caf::typed_response_promise<T> rp,
                     op_kind op, steady::time_point started,
                     caf::expected<T> outcome) {
  auto& st = self->state;
  if (!outcome || !st.store->has_pending_commit()) {
    record(self, op, outcome, started);
    deliver(rp, std::move(outcome));
    return;
  }
  st.pending_acks.emplace_back([self, rp, op, started,
                                value = std::move(*outcome)](
                                 const caf::error& err) mutable {
    record_write(self, op, err ? code_of(err) : state_errc::none, started);
    if (err)
      rp.deliver(err);
    else
      rp.deliver(std::move(value));
  });
  schedule_drain(self);
}

/// Replies to a write now, or once the store's pending writes are durable.
template <class T>
caf::result<T> acknowledge(shard_ptr self, op_kind op,
                           steady::time_point started,
                           caf::expected<T> outcome) {
  if (!outcome || !self->state.store->has_pending_commit()) {
    record(self, op, outcome, started);
    return outcome;
  }
  auto rp = self->make_response_promise<T>();
  hold_or_deliver(self, rp, op, started, std::move(outcome));
  return rp;
}

/// Runs the read `run` (returning caf::expected<R>) now, or, while writes
/// wait for their group commit, right after that commit: a reader never
/// sees a write that a failed commit could still take back, and with
/// fsync: always never one that a crash could.
template <class R, class Run>
caf::result<R> committed_read(shard_ptr self, Run run) {
  auto& st = self->state;
  if (!st.store->has_pending_commit())
    return run();
  auto rp = self->make_response_promise<R>();
  st.deferred_reads.emplace_back(
    [rp, run](const caf::error* failure) mutable {
      if (failure)
        rp.deliver(*failure);
      else
        deliver(rp, run());
    });
  schedule_drain(self);
  return rp;
}

// -- pipelining -----------------------------------------------------------------

/// The index reads of a batch (follow_feed) that the indexes take once it
/// is applied, by position, with their keys (the store may move the keys
/// out of the ops): each one but those of keys that a write later in the
/// batch changes again. The engine runs the batch in order, so the last
/// of a key's ops is what it holds after the batch: a read, or a write the
/// indexes take as any write of this shard.
std::vector<std::pair<size_t, std::string>>
index_reads_to_take(const std::vector<pending_op>& ops,
                    const std::vector<queued_reply>& replies) {
  std::vector<std::pair<size_t, std::string>> out;
  if (std::none_of(replies.begin(), replies.end(),
                   [](auto& r) { return r.index_read; }))
    return out;
  std::unordered_set<std::string_view> written_later;
  for (size_t i = ops.size(); i-- > 0;) {
    if (ops[i].kind != pending_op::get)
      written_later.insert(ops[i].target());
    else if (replies[i].index_read && !written_later.count(ops[i].key))
      out.emplace_back(i, ops[i].key);
  }
  return out;
}

/// Feeds the indexes what the batch's index reads found: a value, or
/// not_found (the key is gone, so it leaves the indexes). When the batch's
/// writes wait for a group commit, the indexes take those writes only at
/// the commit, which could land them over a newer value read here: the
/// keys are then read again once the writes are committed (reindex_atom
/// drains first). A failed read leaves the key as the indexes hold it
/// until it is read again (retry_unreadable_index_reads), said in the log;
/// a query confirms what it finds with the backend meanwhile.
void take_index_reads(shard_ptr self, std::vector<pending_op>& ops,
                      std::vector<std::pair<size_t, std::string>>& reads) {
  auto& st = self->state;
  if (reads.empty() || !st.indexes)
    return;
  if (st.store->has_pending_commit()) {
    batch_request again;
    for (auto& [at, key] : reads)
      again.keys.push_back(std::move(key));
    queue_reindex(self, std::move(again));
    return;
  }
  size_t failed = 0;
  caf::error first_failure;
  for (auto& [at, key] : reads) {
    auto& got = ops[at].got;
    if (got)
      st.indexes->take_read(key, *got);
    else if (code_of(got.error()) == state_errc::not_found)
      st.indexes->take_read(key, entry{}); // version 0: nothing there
    else {
      st.indexes->read_later(key, got.error(), now_of(self));
      if (failed++ == 0)
        first_failure = got.error();
    }
  }
  if (failed > 0)
    spdlog::warn("shard {}: reading {} changed keys into the indexes "
                 "(read again later): {}",
                 st.settings.index, failed, message_of(first_failure));
}

/// Hands every queued operation to the store in one batch and answers them
/// in order. Called by commit_atom, when the queue is full, and before any
/// other store call, so the shard's order of operations holds.
void flush_batch(shard_ptr self) {
  auto& st = self->state;
  if (st.batch.empty())
    return;
  // Answering only enqueues messages, so nothing below flushes again while
  // `applying` is in use.
  auto& ops = st.applying;
  auto& replies = st.applying_replies;
  ops.swap(st.batch);
  replies.swap(st.batch_replies);
  auto index_reads = index_reads_to_take(ops, replies);
  copy_for_watchers(self, ops);
  st.store->apply(ops, now_of(self));
  record_changes(self, ops);
  take_index_reads(self, ops, index_reads);
  auto finished = steady::now();
  for (size_t i = 0; i < ops.size(); ++i) {
    // Writes count themselves when answered (hold_or_deliver), after any
    // group commit they wait for.
    if (ops[i].kind == pending_op::get && !replies[i].index_read) {
      std::chrono::duration<double> elapsed = finished - replies[i].started;
      auto err = ops[i].failure();
      st.tally.add(op_kind::get, err ? code_of(err) : state_errc::none,
                   elapsed.count());
    }
    replies[i].done(ops[i]);
  }
  ops.clear();
  replies.clear();
}

void enqueue(shard_ptr self, pending_op&& op,
             std::function<void(pending_op&)> done) {
  auto& st = self->state;
  st.batch.push_back(std::move(op));
  st.batch_replies.push_back(queued_reply{steady::now(), std::move(done)});
  if (st.batch.size() >= max_batch)
    flush_batch(self);
  else
    schedule_drain(self);
}

bool pipelined(shard_ptr self) {
  return self->state.store->pipelines();
}

/// Follows the changes of a shared engine's feed. Usually it brings this
/// shard's own writes, which the indexes took when they committed: nothing
/// to read. The keys of the others are read back, queued behind the writes
/// already queued, so that a pipeline carries them in the same round trip
/// instead of being cut for a read of its own: the engine runs a batch in
/// order, and flush_batch feeds the indexes what a read found unless a
/// write of the same batch changes the key after it.
void follow_feed(shard_ptr self, const change_batch& changes) {
  auto& st = self->state;
  auto keys = st.indexes->unheld(changes.events);
  if (keys.empty())
    return;
  for (auto& key : keys) {
    pending_op op;
    op.kind = pending_op::get;
    op.key = std::move(key);
    st.batch.push_back(std::move(op));
    st.batch_replies.push_back(
      queued_reply{steady::now(), [](pending_op&) {}, true});
    if (st.batch.size() >= max_batch)
      flush_batch(self);
  }
  schedule_drain(self);
}

caf::error invalid(std::string problem) {
  return make_state_error(state_errc::invalid_key, std::move(problem));
}

/// A condition of a kind no store tests, refused as a transaction's is:
/// taken as none, it would write blindly where the sender meant a check.
caf::error unknown_condition(const condition& cond) {
  return make_state_error(state_errc::bad_request,
                          "unknown condition kind "
                            + std::to_string(static_cast<int>(cond.kind)));
}

// -- key-value operations -------------------------------------------------------

caf::expected<entry> do_get(shard_ptr self, const std::string& key) {
  auto started = steady::now();
  auto problem = key_problem(key);
  caf::expected<entry> out = problem.empty()
                               ? self->state.store->get(key,
                                                        now_of(self))
                               : caf::expected<entry>{invalid(problem)};
  record(self, op_kind::get, out, started);
  return out;
}

/// Why `req` cannot be written at all; empty when it can be tried.
caf::error set_problem(shard_ptr self, const set_request& req) {
  if (auto problem = key_problem(req.key); !problem.empty())
    return invalid(problem);
  if (!req.cond.known())
    return unknown_condition(req.cond);
  if (req.ttl_ms < default_ttl)
    return make_state_error(state_errc::bad_request,
                            "ttl must not be negative");
  if (req.expires_at_ms < 0)
    return make_state_error(state_errc::bad_request,
                            "expires_at_ms must not be negative");
  auto max = self->state.settings.max_value_bytes;
  if (req.value.size() > max)
    return make_state_error(state_errc::payload_too_large,
                            "value of " + std::to_string(req.value.size())
                              + " bytes; state.max_value_bytes is "
                              + std::to_string(max));
  return {};
}

/// The write's outcome, not yet counted (see acknowledge).
caf::expected<write_result> do_set(shard_ptr self, set_request req) {
  auto& st = self->state;
  if (auto err = set_problem(self, req))
    return err;
  auto now = now_of(self);
  auto expires = st.expiry_for(req, now);
  if (!st.recording()) {
    auto out = st.store->set(std::move(req), expires, now);
    owe_expiries(self); // nobody to tell: drops the store's notes
    return out;
  }
  change_copy copy{req.key, req.value};
  auto out = st.store->set(std::move(req), expires, now);
  owe_expiries(self);
  if (out)
    st.changes.put(std::move(copy.key), out->version, std::move(copy.value),
                   expires);
  else if (may_have_applied(out.error()))
    reindex_unsure_writes(self, {std::move(copy.key)});
  changed(self);
  return out;
}

/// Why `req` cannot be deleted at all; empty when it can be tried.
caf::error erase_problem(const delete_request& req) {
  if (auto problem = key_problem(req.key); !problem.empty())
    return invalid(problem);
  if (!req.cond.known())
    return unknown_condition(req.cond);
  return {};
}

/// The delete's outcome, not yet counted (see acknowledge).
caf::expected<bool> do_erase(shard_ptr self, const delete_request& req) {
  if (auto err = erase_problem(req))
    return err;
  auto& st = self->state;
  auto out = st.store->erase(req, now_of(self));
  owe_expiries(self);
  if (out && *out && st.recording())
    st.changes.erase(req.key);
  else if (!out && may_have_applied(out.error()))
    reindex_unsure_writes(self, {req.key});
  changed(self);
  return out;
}

/// Reads `key` and replies with `convert(outcome)`: at once, or from the
/// next pipelined batch when the store pipelines (invalid keys are answered
/// at once either way).
template <class R, class Convert>
caf::result<R> read_key(shard_ptr self, std::string key, Convert convert) {
  if (!pipelined(self) || !key_problem(key).empty())
    return committed_read<R>(
      self, [self, key = std::move(key), convert]() mutable {
        return convert(do_get(self, key));
      });
  auto rp = self->make_response_promise<R>();
  pending_op op;
  op.kind = pending_op::get;
  op.key = std::move(key);
  enqueue(self, std::move(op),
          [rp, convert](pending_op& done) mutable {
            deliver(rp, convert(std::move(done.got)));
          });
  return rp;
}

/// What a write answers: the whole result to a set_request, the version
/// alone to a typed record's put.
template <class R>
caf::expected<R> reply_of(caf::expected<write_result>&& outcome) {
  if constexpr (std::is_same_v<R, write_result>) {
    return std::move(outcome);
  } else {
    if (!outcome)
      return std::move(outcome.error());
    return outcome->version;
  }
}

template <class R>
caf::result<R> write_key(shard_ptr self, set_request&& req) {
  auto started = steady::now();
  if (!pipelined(self) || set_problem(self, req))
    return acknowledge(self, op_kind::set, started,
                       reply_of<R>(do_set(self, std::move(req))));
  auto rp = self->make_response_promise<R>();
  pending_op op;
  op.kind = pending_op::set;
  op.expires_at = self->state.expiry_for(req, now_of(self));
  op.write = std::move(req);
  enqueue(self, std::move(op), [self, rp, started](pending_op& done) mutable {
    hold_or_deliver(self, rp, op_kind::set, started,
                    reply_of<R>(std::move(done.written)));
  });
  return rp;
}

caf::result<bool> erase_key(shard_ptr self, delete_request&& req) {
  auto started = steady::now();
  if (!pipelined(self) || erase_problem(req))
    return acknowledge(self, op_kind::del, started, do_erase(self, req));
  auto rp = self->make_response_promise<bool>();
  pending_op op;
  op.kind = pending_op::erase;
  op.removal = std::move(req);
  enqueue(self, std::move(op), [self, rp, started](pending_op& done) mutable {
    hold_or_deliver(self, rp, op_kind::del, started, std::move(done.erased));
  });
  return rp;
}

// -- transactions -----------------------------------------------------------------

void drain(shard_ptr self);

transaction_limits limits_of(const shard_settings& s) {
  return {s.max_batch_keys, s.max_value_bytes, s.max_reply_bytes};
}

/// The store-level operations of `req`, expiries fixed at `now`.
std::vector<pending_op> pending_ops_of(const shard_state& st,
                                       transaction_request& req,
                                       unix_ms now) {
  std::vector<pending_op> ops(req.ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& in = req.ops[i];
    auto& op = ops[i];
    if (in.kind == txn_op::set) {
      op.kind = pending_op::set;
      op.write = set_request{std::move(in.key), std::move(in.value), in.ttl_ms,
                             in.cond, 0};
      op.expires_at = st.expiry_for(op.write, now);
    } else {
      op.kind = pending_op::erase;
      op.removal = delete_request{std::move(in.key), in.cond};
    }
  }
  return ops;
}

transaction_reply reply_of(const std::vector<pending_op>& ops) {
  transaction_reply out;
  out.versions.reserve(ops.size());
  for (auto& op : ops)
    out.versions.push_back(op.kind == pending_op::set && op.written
                             ? op.written->version
                             : 0);
  return out;
}

/// Runs a whole transaction on this shard's store: all of it or none, held
/// for the group commit like any write.
caf::result<transaction_reply> run_transaction(shard_ptr self,
                                               transaction_request&& req) {
  auto started = steady::now();
  auto& st = self->state;
  if (auto err = transaction_problem(req, limits_of(st.settings)))
    return acknowledge(self, op_kind::transaction, started,
                       caf::expected<transaction_reply>{std::move(err)});
  flush_batch(self); // operations that arrived earlier run first
  auto now = now_of(self);
  auto ops = pending_ops_of(st, req, now);
  copy_for_watchers(self, ops);
  auto err = st.store->transact(ops, now);
  if (!err) {
    record_changes(self, ops);
  } else {
    owe_expiries(self);
    if (may_have_applied(err))
      reindex_unsure_writes(self, keys_of_transaction(st.copies));
    record_put_back(self, ops);
    changed(self);
  }
  return acknowledge(self, op_kind::transaction, started,
                     err ? caf::expected<transaction_reply>{std::move(err)}
                         : caf::expected<transaction_reply>{reply_of(ops)});
}

/// How long a shard stays locked waiting for a coordinator's answer. The
/// coordinator answers at once unless another shard is slow; this bounds
/// the wait if it is gone.
constexpr std::chrono::seconds transaction_lock_limit{30};

/// Applies a locked part, reports to the coordinator and stays locked
/// until it says whether to keep it; answers `rp` with this part's versions
/// (or why not).
void apply_locked_part(shard_ptr self, uint32_t part,
                       std::shared_ptr<std::vector<pending_op>> ops,
                       std::shared_ptr<std::vector<prior_entry>> prior,
                       transaction_coordinator coordinator,
                       caf::typed_response_promise<transaction_reply> rp) {
  auto& st = self->state;
  // TTLs count from now, not from the lock: the coordinator may have waited
  // seconds for a busy shard further down the lock order, and a short TTL
  // fixed at the lock would have passed before the write.
  auto now = now_of(self);
  for (auto& op : *ops)
    if (op.kind == pending_op::set)
      op.expires_at = st.expiry_for(op.write, now);
  copy_for_watchers(self, *ops);
  auto err = st.store->transact(*ops, now);
  // Expiries the part met happened before it, whether it is kept or not:
  // staged now, published once what the part wrote is durable (a failed
  // commit puts the expired entries back, for the sweep to tell).
  owe_expiries(self);
  if (err) {
    // The store put back what it had applied of this part: that much is
    // the outcome already, whatever the other parts do. Published now, as
    // the part's own changes taken below go out only if it is kept. (No
    // commit is waited for: the stores whose writes wait for one, file and
    // rocksdb, change nothing when their transact fails.)
    record_put_back(self, *ops);
    publish_changes(self);
  } else if (st.store->has_pending_commit()) {
    // Durable before anyone is told it is kept (a failed commit takes it
    // back).
    err = st.store->commit();
  }
  // The expiries the part met (nothing else is staged here).
  if (!err || st.store->failed_commit_keeps_writes())
    publish_changes(self);
  else
    discard_changes(self);
  bool applied = !err;
  // The part's changes go to the hub only if the whole transaction is kept
  // (this shard was drained before it locked: nothing else is recorded).
  if (applied && st.recording())
    st.changes.record(*ops, st.copies);
  st.copies.clear();
  auto part_changes = std::make_shared<std::vector<change_event>>(
    st.changes.take());
  // The coordinator sends the changes of every part to the hub together,
  // before it unlocks any shard: sent by each part once told to keep it,
  // writes of other shards came between them.
  std::vector<change_event> for_hub;
  if (applied && st.watched()) {
    if (st.indexes)
      for_hub = *part_changes; // the indexes take them once kept
    else
      for_hub.swap(*part_changes);
  }
  auto finish = [self, ops, prior, rp, applied, part_changes,
                 err](caf::expected<bool> keep) mutable {
    bool kept = applied && keep && *keep;
    auto& st = self->state;
    caf::error stuck;
    if (applied && !kept) {
      stuck = put_back(*st.store, *prior, now_of(self));
      if (st.store->has_pending_commit())
        if (auto err = st.store->commit(); err && !stuck)
          stuck = partly_applied(message_of(err)); // restores taken back
      // A key the part wrote whose TTL passed meanwhile: no watcher saw
      // that write, so its expiry is nobody's news. Any other key the
      // put-back met expired (an lru victim of a restored key) did expire.
      forget_evicted(self);
      for (auto& key : st.store->take_expired_by_writes())
        if (st.recording()
            && std::none_of(prior->begin(), prior->end(),
                            [&](const prior_entry& p) { return p.key == key; }))
          st.changes.expired(std::move(key));
      record_current_state(self, *prior);
      publish_changes(self);
    }
    if (kept && st.indexes)
      for (auto& ev : *part_changes)
        st.indexes->apply(ev);
    caf::expected<transaction_reply> outcome{transaction_reply{}};
    if (kept)
      outcome = reply_of(*ops);
    else if (stuck)
      outcome = std::move(stuck);
    else if (!applied)
      outcome = std::move(err);
    else if (!keep)
      outcome = std::move(keep.error());
    else
      outcome = given_up_for_another_part();
    // Not counted here: the coordinator counts the whole transaction once
    // (txn_done_atom).
    deliver(rp, std::move(outcome));
  };
  self
    ->request(coordinator, transaction_lock_limit, txn_applied_atom_v, part,
              applied, std::move(for_hub))
    .await([finish](bool keep) mutable { finish(keep); },
           [finish](caf::error& e) mutable { finish(std::move(e)); });
}

/// Part `part` of a coordinated transaction: checks its conditions, then
/// waits locked (an awaited request: this shard handles nothing else
/// meanwhile) for the coordinator to say apply, and again to say keep.
/// The coordinator counts the transaction in the metrics, not its parts.
caf::result<transaction_reply>
lock_for_transaction(shard_ptr self, uint32_t part, transaction_request&& req,
                     transaction_coordinator coordinator) {
  auto& st = self->state;
  if (auto err = transaction_problem(req, limits_of(st.settings)))
    return err;
  // Earlier writes first, and durable: a failed group commit must not take
  // back what this part is about to check.
  drain(self);
  auto now = now_of(self);
  auto ops = std::make_shared<std::vector<pending_op>>(
    pending_ops_of(st, req, now));
  auto checked = check_transaction(*st.store, *ops, now);
  if (!checked)
    return std::move(checked.error());
  auto prior = std::make_shared<std::vector<prior_entry>>(std::move(*checked));
  auto rp = self->make_response_promise<transaction_reply>();
  self
    ->request(coordinator, transaction_lock_limit, txn_locked_atom_v, part)
    .await(
      [=](bool go) mutable {
        if (go)
          apply_locked_part(self, part, ops, prior, coordinator, rp);
        else
          rp.deliver(given_up_for_another_part());
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// -- queries ---------------------------------------------------------------------

/// Runs `step` (a query or one of its halves) on the shard's indexes, or
/// refuses it when none is declared; counted as a query either way.
template <class Step>
caf::expected<query_page> on_indexes(shard_ptr self, Step step) {
  auto started = steady::now();
  auto& st = self->state;
  caf::expected<query_page> out{caf::error{}};
  if (!st.indexes)
    out = make_state_error(state_errc::bad_request,
                           "no index is declared (state.indexes): a query "
                           "needs one");
  else
    out = step(*st.indexes);
  record(self, op_kind::query, out, started);
  return out;
}

/// One page of a query on this shard's indexes.
caf::expected<query_page> do_query(shard_ptr self, const query_request& req) {
  return on_indexes(self, [&](shard_indexes& indexes) {
    return indexes.query(*self->state.store, req, now_of(self),
                         self->state.settings.max_reply_bytes);
  });
}

/// The first half of a query over several shards (query_find_atom).
caf::expected<query_page> do_find(shard_ptr self, const query_request& req) {
  return on_indexes(self, [&](shard_indexes& indexes) {
    return indexes.find(req, now_of(self));
  });
}

/// The second half (query_confirm_atom): the backend confirms the found
/// items the collector kept.
caf::expected<query_page> do_confirm(shard_ptr self, const query_request& req,
                                     std::vector<query_item> found) {
  return on_indexes(self, [&](shard_indexes& indexes) {
    return indexes.confirm(*self->state.store, req, std::move(found),
                           now_of(self), self->state.settings.max_reply_bytes);
  });
}

/// How long a failed index build step waits before it tries again (the
/// backend is down, say): queries answer 503 meanwhile.
constexpr std::chrono::seconds index_build_retry{1};

/// One chunk of the start-up build of the indexes; the next goes to the
/// back of the mailbox, so requests are served in between.
void run_index_build(shard_ptr self) {
  auto& st = self->state;
  if (!st.indexes || !st.indexes->reading())
    return;
  // What the build reads is committed, and the changes before it indexed.
  drain(self);
  auto more = st.indexes->build_step(*st.store, now_of(self));
  if (!more) {
    spdlog::warn("shard {}: building the indexes: {}; trying again in {} s",
                 st.settings.index, message_of(more.error()),
                 index_build_retry.count());
    self->delayed_send(self, index_build_retry, index_build_atom_v);
    return;
  }
  if (*more)
    self->send(self, index_build_atom_v);
}

/// One page of keys, never more than max_list_page (limit 0 included).
caf::expected<key_page> do_list(shard_ptr self, list_request req) {
  flush_batch(self); // earlier writes first
  auto started = steady::now();
  req.limit = page_limit(req.limit);
  auto out = self->state.store->list(req, now_of(self));
  record(self, op_kind::list, out, started);
  return out;
}

/// Why a batch cannot be read at all; empty when it can.
caf::error batch_problem(shard_ptr self, const batch_request& req) {
  auto max = self->state.settings.max_batch_keys;
  if (req.keys.size() > max)
    return make_state_error(state_errc::bad_request,
                            "a batch of " + std::to_string(req.keys.size())
                              + " keys; at most " + std::to_string(max));
  for (auto& key : req.keys)
    if (auto problem = key_problem(key); !problem.empty())
      return invalid(problem);
  // Sorted views in a vector kept between batches: no allocation per batch
  // (a hash set allocates a node per key).
  auto& sorted = self->state.batch_keys_sorted;
  sorted.assign(req.keys.begin(), req.keys.end());
  std::sort(sorted.begin(), sorted.end());
  auto twice = std::adjacent_find(sorted.begin(), sorted.end());
  if (twice != sorted.end())
    return make_state_error(state_errc::bad_request,
                            "key '" + std::string{*twice}
                              + "' is named twice in one batch");
  return {};
}

/// Adds `e` to `out` unless it would take the reply's values past `budget`
/// (the first entry always fits); false when it did not fit.
bool take_within(batch_reply& out, entry&& e, size_t& bytes, size_t budget) {
  if (!out.entries.empty() && bytes + e.value.size() > budget)
    return false;
  bytes += e.value.size();
  out.entries.push_back(std::move(e));
  return true;
}

/// The entries of `part`: one batch_get, or, when the request skips
/// unreadable values, read_readable's batch that goes past them and names
/// them in `out` (for the keys that fit the reply: `part` starts at the
/// reply's next entry).
caf::expected<std::vector<entry>>
read_part(state_store& store, const std::vector<std::string>& part,
          unix_ms now, bool skip_unreadable, batch_reply& out) {
  if (!skip_unreadable)
    return store.batch_get(part, now);
  auto read = read_readable(store, part, now);
  if (!read)
    return std::move(read.error());
  for (size_t i = 0; i < read->unreadable.size(); ++i)
    out.unreadable.push_back(
      {part[read->unreadable[i]], std::move(read->reasons[i])});
  return std::move(read->entries);
}

/// Drops the names of unreadable keys that ended past the reply's budget
/// (they are unprocessed, asked again).
void keep_answered_unreadable(batch_reply& out,
                              const std::vector<std::string>& keys) {
  // Both lists are in request order: one walk.
  auto answered = out.entries.size();
  size_t next = 0;
  size_t kept = 0;
  for (auto& u : out.unreadable) {
    while (next < answered && keys[next] != u.key)
      ++next;
    if (next == answered)
      break;
    ++kept;
  }
  out.unreadable.resize(kept);
}

/// Keys a network backend reads in one round trip of a batch-get.
constexpr size_t read_chunk = 16;

/// Reads `req`'s keys into `out` in round trips of read_chunk keys, until
/// the reply's values reach `budget`.
caf::error read_in_round_trips(state_store& store, const batch_request& req,
                               unix_ms now, size_t budget, batch_reply& out) {
  size_t bytes = 0;
  std::vector<std::string> part;
  while (out.entries.size() < req.keys.size()) {
    auto next = req.keys.begin() + out.entries.size();
    part.assign(next,
                next + std::min<size_t>(read_chunk, req.keys.end() - next));
    auto entries = read_part(store, part, now, req.skip_unreadable, out);
    if (!entries)
      return std::move(entries.error());
    for (auto& e : *entries)
      if (!take_within(out, std::move(e), bytes, budget))
        return {};
  }
  return {};
}

/// Reads `req`'s keys as of one moment through `atomic`, within `budget`:
/// false when a value that cannot be read failed the read and the request
/// skips such values (its caller reads in round trips then).
caf::expected<bool> read_at_once(atomic_batch_read& atomic,
                                 const batch_request& req, unix_ms now,
                                 size_t budget, batch_reply& out) {
  auto got = atomic.batch_get_within(req.keys, now, budget);
  if (!got) {
    if (req.skip_unreadable && is_value_error(got.error()))
      return false;
    return std::move(got.error());
  }
  size_t bytes = 0;
  for (auto& e : *got)
    if (!take_within(out, std::move(e), bytes, budget))
      break;
  return true;
}

/// Reads `req`'s keys, answering as many as fit the reply's byte budget (at
/// least one). A local backend reads them one by one in this actor, which
/// is the only writer of its keys. A network backend that other
/// connections write to (other shards' stores apply transactions whose
/// first key they own; other services share the engine) reads them in one
/// request the engine runs as a unit, so that no transaction lands between
/// two round trips and the reply never holds some of its writes without the
/// others; one that cannot, and a batch with a value that cannot be read
/// when the request skips those, in round trips of a few keys, so that a
/// batch of large values never sits in memory whole. The keys past the
/// budget come back as unprocessed.
caf::expected<batch_reply> read_within_budget(shard_ptr self,
                                              const batch_request& req) {
  auto& st = self->state;
  auto& store = *st.store;
  const size_t budget = st.settings.max_reply_bytes;
  auto now = now_of(self);
  batch_reply out;
  out.entries.reserve(req.keys.size());
  if (!store.pipelines()) {
    size_t bytes = 0;
    for (auto& key : req.keys) {
      auto e = store.get(key, now);
      if (!e && req.skip_unreadable && is_value_error(e.error()))
        out.unreadable.push_back({key, message_of(e.error())});
      else if (!e && code_of(e.error()) != state_errc::not_found)
        return std::move(e.error());
      if (!take_within(out, e ? std::move(*e) : entry{}, bytes, budget))
        break;
    }
  } else {
    bool done = false;
    if (auto* atomic = atomic_reader_of(store)) {
      auto read = read_at_once(*atomic, req, now, budget, out);
      if (!read)
        return std::move(read.error());
      done = *read;
    }
    if (!done)
      if (auto err = read_in_round_trips(store, req, now, budget, out))
        return err;
  }
  keep_answered_unreadable(out, req.keys);
  out.unprocessed.assign(req.keys.begin() + out.entries.size(),
                         req.keys.end());
  return out;
}

caf::expected<batch_reply> do_batch_get(shard_ptr self,
                                        const batch_request& req) {
  flush_batch(self); // earlier writes first
  auto started = steady::now();
  caf::expected<batch_reply> out{batch_reply{}};
  if (auto err = batch_problem(self, req))
    out = std::move(err);
  else
    out = read_within_budget(self, req);
  record(self, op_kind::batch_get, out, started);
  return out;
}

/// One page of the ids under `prefix` after `after`: the keys with the
/// prefix cut off.
caf::expected<id_list> do_list_ids(shard_ptr self, const std::string& prefix,
                                   const std::string& after, uint32_t limit) {
  auto page = do_list(self, list_request{prefix,
                                         after.empty() ? std::string{}
                                                       : prefix + after,
                                         limit});
  if (!page)
    return std::move(page.error());
  id_list out;
  out.ids.reserve(page->keys.size());
  for (auto& key : page->keys)
    out.ids.emplace_back(key.substr(prefix.size()));
  out.more = page->more;
  return out;
}

/// do_list_ids after the group commit any earlier write waits for.
template <class Query>
caf::result<id_list> list_ids(shard_ptr self, std::string prefix,
                              const Query& q) {
  return committed_read<id_list>(
    self, [self, prefix = std::move(prefix), after = q.after,
           limit = q.limit] { return do_list_ids(self, prefix, after, limit); });
}

// -- delete by prefix ---------------------------------------------------------------

/// Answers deletion `id` with `outcome`, counts it as one delete_prefix
/// operation and forgets it.
void answer_deletion(shard_ptr self, uint64_t id,
                     caf::expected<delete_prefix_result> outcome) {
  auto& dels = self->state.deletions;
  auto it = dels.find(id);
  if (it == dels.end())
    return;
  auto rp = it->second.rp;
  record(self, op_kind::delete_prefix, outcome, it->second.started);
  dels.erase(it);
  deliver(rp, std::move(outcome));
}

/// Ends deletion `id`: at once, or once the erases it made are durable (a
/// failed group commit answers with its error, not with the count).
void finish_deletion(shard_ptr self, uint64_t id,
                     caf::expected<delete_prefix_result> outcome) {
  auto& st = self->state;
  if (!outcome || !st.store->has_pending_commit())
    return answer_deletion(self, id, std::move(outcome));
  st.pending_acks.emplace_back(
    [self, id, result = *outcome](const caf::error& err) {
      auto& dels = self->state.deletions;
      auto it = dels.find(id);
      if (it == dels.end())
        return;
      auto failure = err ? err : it->second.failure;
      if (failure)
        answer_deletion(self, id, std::move(failure));
      else
        answer_deletion(self, id, result);
    });
  schedule_drain(self);
}

/// Erases `keys` through the store's single-key erase path (apply: one
/// pipelined batch on a network backend, erase() per key otherwise), so
/// each key's removal is the same event a DELETE of that key would be. How
/// many live values went, or the first failure.
caf::expected<uint64_t> erase_keys(shard_ptr self,
                                   std::vector<std::string>& keys) {
  auto& st = self->state;
  auto& ops = st.deletion_ops;
  ops.clear();
  for (auto& key : keys) {
    pending_op op;
    op.kind = pending_op::erase;
    op.removal = delete_request{std::move(key), condition::always()};
    ops.push_back(std::move(op));
  }
  copy_for_watchers(self, ops);
  st.store->apply(ops, now_of(self));
  record_changes(self, ops);
  uint64_t removed = 0;
  for (auto& op : ops) {
    if (!op.erased)
      return std::move(op.erased.error());
    removed += *op.erased ? 1 : 0;
  }
  ops.clear();
  return removed;
}

/// The keys of a deletion's next step: as many as `keys` took `took`
/// for, scaled to deletion_step_time, within 1..delete_prefix_chunk.
uint32_t next_deletion_chunk(size_t keys, steady::duration took) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(took)
                  .count();
  if (keys == 0 || micros <= 0)
    return delete_prefix_chunk;
  auto target = std::chrono::duration_cast<std::chrono::microseconds>(
                  deletion_step_time)
                  .count();
  auto paced = static_cast<double>(keys) * static_cast<double>(target)
               / static_cast<double>(micros);
  return static_cast<uint32_t>(
    std::clamp(paced, 1.0, static_cast<double>(delete_prefix_chunk)));
}

/// One step of deletion `id`: lists the next chunk of this shard's keys
/// after its cursor (list_owned: on DynamoDB, list() would hand one shard
/// every shard's keys, whose removals would not reach their owners'
/// indexes), erases it, and either ends the deletion or sends the next
/// step to the back of the mailbox, so the requests that arrived meanwhile
/// run in between.
void run_deletion_step(shard_ptr self, uint64_t id) {
  auto& st = self->state;
  auto it = st.deletions.find(id);
  if (it == st.deletions.end())
    return;
  auto& d = it->second;
  if (d.failure)
    return answer_deletion(self, id, d.failure);
  flush_batch(self); // earlier writes first
  auto step_started = steady::now();
  uint64_t wanted = d.chunk;
  if (d.req.limit != 0)
    wanted = std::min(wanted, d.req.limit - d.handled);
  list_request next{d.req.prefix, d.after, static_cast<uint32_t>(wanted)};
  auto page = st.store->list_owned(next, now_of(self));
  if (!page)
    return answer_deletion(self, id, std::move(page.error()));
  if (!page->keys.empty())
    d.after = page->keys.back();
  d.handled += page->keys.size();
  auto removed = erase_keys(self, page->keys);
  if (!removed)
    return finish_deletion(self, id, std::move(removed.error()));
  d.deleted += *removed;
  if (st.store->has_pending_commit()) {
    // A failed group commit takes this step's erases back: the deletion
    // must not count them.
    st.pending_acks.emplace_back([self, id](const caf::error& err) {
      auto& dels = self->state.deletions;
      if (auto it = dels.find(id); err && it != dels.end())
        it->second.failure = err;
    });
    schedule_drain(self);
  }
  auto step_ended = steady::now();
  d.chunk = next_deletion_chunk(page->keys.size(), step_ended - step_started);
  bool at_limit = d.req.limit != 0
                  && (d.handled >= d.req.limit
                      || step_ended - d.started >= deletion_call_time);
  if (!page->more || at_limit)
    return finish_deletion(self, id,
                           delete_prefix_result{d.deleted, page->more});
  self->send(self, delete_step_atom_v, id);
}

/// Starts deleting the keys under `req.prefix`; the answer comes from the
/// last step.
caf::result<delete_prefix_result>
start_deletion(shard_ptr self, delete_prefix_request&& req) {
  auto started = steady::now();
  if (req.prefix.empty()) {
    caf::expected<delete_prefix_result> refused = make_state_error(
      state_errc::bad_request, "prefix must not be empty: deleting every key "
                               "by prefix is refused");
    record(self, op_kind::delete_prefix, refused, started);
    return std::move(refused.error());
  }
  auto& st = self->state;
  auto id = ++st.last_deletion_id;
  auto rp = self->make_response_promise<delete_prefix_result>();
  auto& d = st.deletions[id];
  d.req = std::move(req);
  d.rp = rp;
  d.started = started;
  self->send(self, delete_step_atom_v, id);
  return rp;
}

/// Answers every deletion in progress with `err` (the shard fails or stops).
void fail_deletions(shard_ptr self, const caf::error& err) {
  auto dels = std::move(self->state.deletions);
  self->state.deletions.clear();
  for (auto& entry : dels)
    entry.second.rp.deliver(err);
}

// -- typed records ----------------------------------------------------------------

/// Reads `key` into a typed record via `fill_in(record, entry)`.
template <class Record, class Ref, class FillIn>
caf::result<Record> get_record(shard_ptr self, const Ref& ref,
                               std::string key, FillIn fill_in) {
  if (auto problem = problem_of(ref); !problem.empty())
    return invalid(problem);
  return read_key<Record>(self, std::move(key),
                          [fill_in](caf::expected<entry> e) mutable
                          -> caf::expected<Record> {
                            if (!e)
                              return std::move(e.error());
                            Record out;
                            fill_in(out, *e);
                            return out;
                          });
}

caf::result<version_t> put_record(shard_ptr self, std::string problem,
                                  std::string key, std::string data) {
  if (!problem.empty())
    return invalid(problem);
  return write_key<version_t>(self,
                              set_request{std::move(key), std::move(data),
                                          default_ttl, condition::always()});
}

// -- internal ---------------------------------------------------------------------

/// Drops expired keys; each is an expire event for the watchers, named by
/// the store's sweep or by the shard's own tracking of what it wrote.
void sweep(shard_ptr self) {
  auto& st = self->state;
  // A store holding writes for its group commit may not sweep (the file
  // store: they may still be undone); under a steady write load a tick
  // almost always finds some, so commit them first.
  if (st.store->has_pending_commit())
    drain(self);
  auto now = now_of(self);
  if (st.indexes)
    st.indexes->expire(now); // keys a backend expired by itself
  size_t dropped = 0;
  bool more_due = false;
  if (!st.recording()) {
    dropped = st.store->sweep(now);
  } else if (st.store->reports_expiries()) {
    std::vector<std::string> expired;
    dropped = st.store->sweep(now, &expired);
    for (auto& key : expired)
      st.changes.expired(std::move(key));
  } else {
    dropped = st.store->sweep(now);
    more_due = st.changes.expire_due(now, state_store::max_sweep_keys);
  }
  st.sweep_unfinished = dropped >= state_store::max_sweep_keys || more_due;
  // Published now, each chunk its own message to the hub: staged until the
  // next group commit, a write's failed commit would discard them too,
  // though no store takes a sweep back.
  if (st.recording())
    drain(self);
}

/// One chunk of the backend's background work (key rotation); while more
/// is left, the next chunk goes to the back of the mailbox, so requests that
/// arrived meanwhile are served first. Its writes are made durable by the
/// next group commit, whoever waits for it.
void run_background_step(shard_ptr self) {
  auto& st = self->state;
  flush_batch(self);
  if (st.sweep_unfinished)
    sweep(self); // its next chunk, between requests
  bool more = st.store->background_step(now_of(self));
  owe_expiries(self);
  record_rewritten(self, st.store->take_rewritten());
  if (st.store->has_pending_commit())
    schedule_drain(self);
  st.background_running = more || st.sweep_unfinished;
  if (st.background_running)
    self->send(self, background_step_atom_v);
}

/// Reads again, now and then, the keys whose values the indexes could not
/// read (shard_indexes::retry_unreadable).
void retry_unreadable_index_reads(shard_ptr self) {
  auto& st = self->state;
  auto now = now_of(self);
  if (!st.indexes || !st.indexes->unreadable_retry_due(now))
    return;
  drain(self); // what it reads is committed, as for a build
  auto refresh = st.indexes->retry_unreadable(*st.store, now);
  if (!refresh)
    spdlog::warn("shard {}: reading unreadable values into the indexes: {}",
                 st.settings.index, message_of(refresh.error()));
  else if (*refresh)
    self->send(self, index_build_atom_v);
}

/// Keys of this shard that another shard wrote (a transaction over keys of
/// several shards, applied by the first one's store): their expiries, as
/// the store holds them now, replace what this shard tracked of them, or a
/// TTL a transaction took off would still end in an expire event, and take
/// a live key out of the indexes. A key found absent is no longer tracked
/// (a TTL the transaction set that passed before this read goes without an
/// event); when the store cannot be read, or a value cannot, what was
/// tracked stays.
void follow_expiries(shard_ptr self, const std::vector<std::string>& keys) {
  auto& st = self->state;
  if (!st.changes.tracks_expiries())
    return;
  std::vector<std::string> mine;
  for (auto& key : keys)
    if (st.changes.owns(key))
      mine.push_back(key);
  if (mine.empty())
    return;
  auto read = read_readable(*st.store, mine, now_of(self));
  if (!read)
    return;
  std::vector<bool> unknown(mine.size(), false);
  for (auto i : read->unreadable)
    unknown[i] = true;
  for (size_t i = 0; i < mine.size(); ++i)
    if (!unknown[i])
      st.changes.follow_expiry(mine[i], read->entries[i].found()
                                          ? read->entries[i].expires_at_ms
                                          : 0);
}

void report_metrics(shard_ptr self);

/// The ticker's tick (state.sweep_interval). The ticker sends the next one
/// only once this one is answered: a sweep blocked on a hung backend leaves
/// no backlog of ticks behind it for a stop to wait on.
void on_tick(shard_ptr self) {
  auto& st = self->state;
  flush_batch(self);
  sweep(self);
  if (!st.background_running)
    run_background_step(self);
  retry_unreadable_index_reads(self);
  report_metrics(self);
}

/// Sends the metrics actor the counters since the last report, the last
/// health check and the store's sizes.
void report_metrics(shard_ptr self) {
  auto& st = self->state;
  if (!st.settings.metrics)
    return;
  auto stats = st.store->stats();
  shard_report report{st.settings.index,
                      std::string{st.store->backend_name()},
                      stats.keys,
                      stats.bytes,
                      std::move(st.tally.results),
                      std::move(st.tally.buckets),
                      std::move(st.tally.seconds),
                      st.backend_up,
                      stats.quarantined,
                      stats.reencrypt_pending,
                      stats.undecryptable,
                      std::move(stats.log_syncs),
                      st.indexes ? st.indexes->indexed_keys() : 0,
                      st.indexes && st.indexes->building() ? 1u : 0u,
                      stats.fold,
                      stats.compaction};
  st.tally = op_tally{};
  self->send(st.settings.metrics, report_atom_v, std::move(report));
}

/// The ticker's health tick (ticker_settings::health_interval): asks the
/// backend's health and reports it at once. Asked on the sweep's tick, a
/// sweep_interval of 60 s left a dead backend reported up for a minute,
/// with or without traffic, although SolverStateNotReady relies on 5 s.
void on_health_tick(shard_ptr self) {
  auto& st = self->state;
  if (!st.settings.metrics)
    return;
  flush_batch(self); // as for health_atom: the batch goes out first
  st.backend_up = !st.store->health_check();
  report_metrics(self);
}

/// Answers the held acknowledgements with the commit's outcome `err`, then
/// runs the deferred reads, or answers them with `failure` (the shard
/// failed). Both lists are taken first: answering may queue more.
void release_held(shard_ptr self, const caf::error& err,
                  const caf::error* failure) {
  auto& st = self->state;
  auto acks = std::move(st.pending_acks);
  st.pending_acks.clear();
  for (auto& ack : acks)
    ack(err);
  auto reads = std::move(st.deferred_reads);
  st.deferred_reads.clear();
  for (auto& read : reads)
    read(failure);
}

/// The pipelined batch first (its writes may need the commit), then the
/// group commit, then the held acknowledgements and deferred reads: after a
/// failed commit the store has taken the writes back, so the reads see what
/// is durable either way.
void drain(shard_ptr self) {
  auto& st = self->state;
  st.drain_laps = 0;
  flush_batch(self);
  st.drain_scheduled = false;
  auto err = st.store->commit();
  if (err && !st.store->failed_commit_keeps_writes())
    discard_changes(self); // the store took those writes back
  else
    publish_changes(self);
  release_held(self, err, nullptr);
}

/// Closes the backend once (final sync, fold); a failure is logged and
/// reported, since the writes it held may not be durable. True when this
/// call closed it cleanly.
bool close_store(shard_ptr self) {
  auto& st = self->state;
  if (!st.store || st.closed)
    return false;
  st.closed = true;
  if (auto err = st.store->close()) {
    spdlog::error("shard {}: closing the {} backend failed: {}",
                  st.settings.index, st.store->backend_name(),
                  message_of(err));
    if (st.settings.on_close_failure)
      st.settings.on_close_failure(err);
    return false;
  }
  return true;
}

/// Leaves the indexes with the backend after a clean close, so that the
/// next start loads them instead of reading every value again. Indexes
/// still being built are not whole: the next start builds them.
void keep_indexes(shard_ptr self) {
  auto& st = self->state;
  if (!st.indexes || !st.store->keeps_snapshots())
    return;
  if (st.reindexes_queued > 0) {
    // Keys of writes that failed but may have been applied were still to
    // be read again: kept, the indexes would hold their values from before
    // those writes after the next start, and queries would disagree with
    // the store. The next start builds them from the values instead.
    spdlog::warn("shard {}: indexes not kept: {} re-reads of keys whose "
                 "writes failed were still queued; the next start builds "
                 "them from the values",
                 st.settings.index, st.reindexes_queued);
    return;
  }
  auto started = steady::now();
  auto snapshot = st.indexes->snapshot();
  if (!snapshot) {
    if (!st.indexes->reading())
      spdlog::info("shard {}: indexes not kept: some values could not be "
                   "read into them ({} kept to read again); the next start "
                   "builds them from the values",
                   st.settings.index, st.indexes->unreadable_keys());
    return;
  }
  auto bytes = snapshot->size();
  if (auto err = st.store->keep_snapshot(std::move(*snapshot))) {
    spdlog::warn("shard {}: cannot keep the indexes for the next start ({}): "
                 "it builds them from the values",
                 st.settings.index, message_of(err));
    return;
  }
  std::chrono::duration<double> took = steady::now() - started;
  spdlog::info("shard {}: indexes kept for the next start: {} keys, {} "
               "bytes, in {:.3f} s",
               st.settings.index, st.indexes->indexed_keys(), bytes,
               took.count());
}

/// Leaves the closed backend and the indexes to the process's exit, when
/// the settings ask for it (a backend whose destructor does more than free
/// memory is destroyed as usual).
void leave_memory_to_exit(shard_ptr self) {
  auto& st = self->state;
  if (!st.settings.memory_to_exit)
    return;
  if (st.store->only_frees_after_close())
    keep_until_exit(std::move(st.store));
  if (st.indexes)
    keep_until_exit(std::shared_ptr<shard_indexes>{std::move(st.indexes)});
}

/// Loads the indexes from the snapshot the backend kept at the last clean
/// stop; true when they came from it (no build then). Any snapshot is
/// taken, used or not: none outlives this start.
bool load_kept_indexes(shard_ptr self) {
  auto& st = self->state;
  auto started = steady::now();
  auto kept = st.store->take_snapshot();
  if (!kept) {
    spdlog::warn("shard {}: the indexes are built from the values: {}",
                 st.settings.index, message_of(kept.error()));
    return false;
  }
  if (!*kept)
    return false;
  if (auto err = st.indexes->load(**kept)) {
    spdlog::warn("shard {}: the indexes are built from the values: {}",
                 st.settings.index, message_of(err));
    return false;
  }
  std::chrono::duration<double> took = steady::now() - started;
  spdlog::info("shard {}: indexes loaded from the last stop's snapshot: {} "
               "keys in {:.3f} s",
               st.settings.index, st.indexes->indexed_keys(), took.count());
  return true;
}

/// Answers every request the shard holds with `err`: queued pipelined
/// operations, acknowledgements waiting for a commit, deferred reads. Used
/// when the shard fails, so that no caller waits for an answer that cannot
/// come.
void fail_everything_held(shard_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto fail_queue = [&](std::vector<pending_op>& ops,
                        std::vector<queued_reply>& replies) {
    auto taken_ops = std::move(ops);
    auto taken_replies = std::move(replies);
    ops.clear();
    replies.clear();
    for (size_t i = 0; i < taken_ops.size() && i < taken_replies.size(); ++i) {
      taken_ops[i].fail(err);
      taken_replies[i].done(taken_ops[i]);
    }
  };
  fail_queue(st.applying, st.applying_replies);
  fail_queue(st.batch, st.batch_replies);
  discard_changes(self);
  release_held(self, err, &err);
  fail_deletions(self, err);
}

/// Keeps a failed shard's store open, unclosed, until the process exits. An
/// exception may have left its memory out of step with its log: closing
/// would fold that into the durable files, while the log alone, replayed by
/// recovery when the service restarts, holds exactly what was acknowledged.
void abandon(std::shared_ptr<state_store> store) {
  keep_until_exit(std::move(store));
}

/// What an exception escaping a handler turns into: every held request is
/// answered with it, the store is abandoned, and the shard stops with it
/// (its owner learns why: see start_store).
caf::error on_exception(shard_ptr self, std::exception_ptr& eptr) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  auto& st = self->state;
  auto err = make_state_error(state_errc::backend_error,
                              "shard " + std::to_string(st.settings.index)
                                + " failed: " + what);
  spdlog::critical("{}", message_of(err));
  fail_everything_held(self, err);
  st.closed = true;
  abandon(std::move(st.store));
  return err;
}

/// The drain message.
void on_commit(shard_ptr self) {
  auto& st = self->state;
  // Operations that arrived while this group formed join it before the
  // round trip or the sync: a bounded extra lap through the mailbox costs no
  // waiting, and a group that takes every writer halves the syncs per write
  // (without it, writers acknowledged by one sync and those arriving during
  // it alternate in two half-size groups).
  if (st.drain_laps < 2 && !self->mailbox().empty()) {
    ++st.drain_laps;
    self->send(self, commit_atom_v);
    return;
  }
  drain(self);
}

shard_actor::behavior_type shard(shard_ptr self,
                                 std::shared_ptr<state_store> store,
                                 shard_settings settings) {
  auto& st = self->state;
  st.store = std::move(store);
  st.settings = std::move(settings);
  auto me = st.settings.index;
  auto count = std::max<uint32_t>(st.settings.shard_count, 1);
  // A store that shares its data (one database for every shard) may apply
  // another shard's keys here (a transaction over several shards): this
  // shard indexes, and tracks the expiries of, only its own. Other stores
  // hold only their own.
  std::function<bool(std::string_view)> owns;
  if (st.store->shares_data())
    owns = [me, count](std::string_view key) {
      return shard_index(key, count) == me;
    };
  st.changes = change_recorder{!st.store->reports_expiries(), owns};
  if (!st.settings.indexes.empty()) {
    st.indexes = std::make_unique<shard_indexes>(st.settings.indexes, me,
                                                 count, std::move(owns));
    if (!load_kept_indexes(self))
      self->send(self, index_build_atom_v);
  } else if (auto kept = st.store->take_snapshot(); kept && *kept) {
    // Indexes of an earlier run that declared some: no use now (the open
    // already took them off the disk), and no memory held for them.
    spdlog::info("shard {}: no index declared: the snapshot of the indexes "
                 "of an earlier run is dropped",
                 st.settings.index);
  }
  st.clock = wall_clock::starting_now(self->clock().now(),
                                      !driven_by_test(self));
  // On shutdown, answer what is queued (pipelined ops, held group-commit
  // acknowledgements) before quitting: the drain message would come too
  // late, exit messages overtake it.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    drain(self);
    // Deletions still running end here: their callers learn so now rather
    // than by their timeout.
    fail_deletions(self, make_state_error(state_errc::backend_unavailable,
                                          "the shard stopped during a "
                                          "delete by prefix"));
    if (close_store(self)) {
      keep_indexes(self);
      leave_memory_to_exit(self);
    }
    self->quit(std::move(msg.reason));
  });
  self->set_exception_handler(
    [=](caf::scheduled_actor*, std::exception_ptr& eptr) {
      return on_exception(self, eptr);
    });
  return {
    // -- key-value -------------------------------------------------------------
    [=](get_atom, const std::string& key) -> caf::result<entry> {
      return read_key<entry>(self, key,
                             [](caf::expected<entry> e) { return e; });
    },
    [=](put_atom, set_request& req) -> caf::result<write_result> {
      return write_key<write_result>(self, std::move(req));
    },
    [=](delete_atom, delete_request& req) -> caf::result<bool> {
      return erase_key(self, std::move(req));
    },
    [=](transact_atom,
        transaction_request& req) -> caf::result<transaction_reply> {
      return run_transaction(self, std::move(req));
    },
    [=](txn_lock_atom, uint32_t part, transaction_request& req,
        transaction_coordinator& coordinator)
      -> caf::result<transaction_reply> {
      return lock_for_transaction(self, part, std::move(req),
                                  std::move(coordinator));
    },
    [=](txn_done_atom, const caf::error& outcome, caf::timespan took) {
      std::chrono::duration<double> elapsed = took;
      self->state.tally.add(op_kind::transaction, code_of(outcome),
                            elapsed.count());
    },
    [=](list_atom, list_request& req) -> caf::result<key_page> {
      return committed_read<key_page>(
        self, [self, req = std::move(req)] { return do_list(self, req); });
    },
    [=](batch_get_atom, batch_request& req) -> caf::result<batch_reply> {
      return committed_read<batch_reply>(
        self, [self, req = std::move(req)] { return do_batch_get(self, req); });
    },
    [=](delete_atom,
        delete_prefix_request& req) -> caf::result<delete_prefix_result> {
      return start_deletion(self, std::move(req));
    },
    [=](query_atom, query_request& req) -> caf::result<query_page> {
      flush_batch(self); // earlier writes first
      return committed_read<query_page>(
        self, [self, req = std::move(req)] { return do_query(self, req); });
    },
    [=](query_find_atom, query_request& req) -> caf::result<query_page> {
      flush_batch(self);
      return committed_read<query_page>(
        self, [self, req = std::move(req)] { return do_find(self, req); });
    },
    [=](query_confirm_atom, query_request& req,
        query_page& found) -> caf::result<query_page> {
      flush_batch(self);
      return committed_read<query_page>(
        self, [self, req = std::move(req), found = std::move(found)]() mutable {
          return do_confirm(self, req, std::move(found.items));
        });
    },
    // -- typed records ------------------------------------------------------------
    [=](put_atom, order& x) -> caf::result<version_t> {
      return put_record(self, problem_of(order_ref{x.order_type, x.order_id}),
                        order_key(x.order_type, x.order_id),
                        std::move(x.data));
    },
    [=](get_atom, const order_ref& ref) -> caf::result<order> {
      return get_record<order>(self, ref, order_key(ref.order_type, ref.order_id),
                               [ref](order& out, entry& e) {
                                 out = order{ref.order_type, ref.order_id,
                                             std::move(e.value), e.version};
                               });
    },
    [=](delete_atom, const order_ref& ref) -> caf::result<bool> {
      if (auto problem = problem_of(ref); !problem.empty())
        return invalid(problem);
      return erase_key(self, delete_request{order_key(ref.order_type,
                                                      ref.order_id),
                                            condition::always()});
    },
    [=](list_atom, const orders_of& q) -> caf::result<id_list> {
      if (auto problem = segment_problem("order_type", q.order_type);
          !problem.empty())
        return invalid(problem);
      return list_ids(self, orders_prefix(q.order_type), q);
    },
    [=](put_atom, fill& x) -> caf::result<version_t> {
      return put_record(self, problem_of(fill_ref{x.order_id, x.tx_hash}),
                        fill_key(x.order_id, x.tx_hash), std::move(x.data));
    },
    [=](get_atom, const fill_ref& ref) -> caf::result<fill> {
      return get_record<fill>(self, ref, fill_key(ref.order_id, ref.tx_hash),
                              [ref](fill& out, entry& e) {
                                out = fill{ref.order_id, ref.tx_hash,
                                           std::move(e.value), e.version};
                              });
    },
    [=](list_atom, const fills_of& q) -> caf::result<id_list> {
      if (auto problem = segment_problem("order_id", q.order_id);
          !problem.empty())
        return invalid(problem);
      return list_ids(self, fills_prefix(q.order_id), q);
    },
    [=](put_atom, settlement& x) -> caf::result<version_t> {
      return put_record(self,
                        problem_of(settlement_ref{x.order_id, x.claim_hash}),
                        settlement_key(x.order_id, x.claim_hash),
                        std::move(x.data));
    },
    [=](get_atom, const settlement_ref& ref) -> caf::result<settlement> {
      return get_record<settlement>(
        self, ref, settlement_key(ref.order_id, ref.claim_hash),
        [ref](settlement& out, entry& e) {
          out = settlement{ref.order_id, ref.claim_hash, std::move(e.value),
                           e.version};
        });
    },
    [=](list_atom, const settlements_of& q) -> caf::result<id_list> {
      if (auto problem = segment_problem("order_id", q.order_id);
          !problem.empty())
        return invalid(problem);
      return list_ids(self, settlements_prefix(q.order_id), q);
    },
    [=](put_atom, component_state& x) -> caf::result<version_t> {
      return put_record(self, problem_of(component_key{x.component, x.key}),
                        state_key(x.component, x.key), std::move(x.data));
    },
    [=](get_atom, const component_key& ref) -> caf::result<component_state> {
      return get_record<component_state>(
        self, ref, state_key(ref.component, ref.key),
        [ref](component_state& out, entry& e) {
          out = component_state{ref.component, ref.key, std::move(e.value),
                                e.version};
        });
    },
    // -- watches --------------------------------------------------------------------
    [=](watch_atom, watch_request& req,
        watcher_actor& watcher) -> caf::result<watch_started> {
      auto& hub = self->state.settings.hub;
      if (!hub)
        return make_state_error(state_errc::backend_unavailable,
                                "this store serves no watches");
      return self->delegate(hub, watch_atom_v, std::move(req),
                            std::move(watcher));
    },
    // -- operations ---------------------------------------------------------------
    [=](health_atom) -> caf::result<health_report> {
      flush_batch(self);
      auto& store = *self->state.store;
      if (auto err = store.health_check())
        return make_state_error(state_errc::backend_unavailable,
                                message_of(err));
      auto stats = store.stats();
      return health_report{stats.quarantined, stats.undecryptable};
    },
    // -- internal -----------------------------------------------------------------
    [=](tick_atom) { on_tick(self); },
    [=](report_atom) { on_health_tick(self); },
    [=](commit_atom) { on_commit(self); },
    [=](delete_step_atom, uint64_t id) { run_deletion_step(self, id); },
    [=](background_step_atom) { run_background_step(self); },
    [=](index_build_atom) { run_index_build(self); },
    [=](reindex_atom, const batch_request& req) {
      auto& st = self->state;
      if (self->current_sender() == self->ctrl() && st.reindexes_queued > 0)
        --st.reindexes_queued;
      // No keys: every key, read again in chunks (the engine feed lost
      // changes for a while).
      if (req.keys.empty()) {
        if (st.indexes && st.indexes->refresh())
          self->send(self, index_build_atom_v);
        return;
      }
      if (!st.recording())
        return;
      drain(self);
      follow_expiries(self, req.keys);
      if (!st.indexes)
        return;
      if (auto err = st.indexes->reindex(*st.store, req.keys, now_of(self)))
        spdlog::warn("shard {}: reading {} keys into the indexes again: {}",
                     st.settings.index, req.keys.size(), message_of(err));
    },
    [=](reindex_atom, const change_batch& changes) {
      auto& st = self->state;
      if (!st.indexes)
        return;
      follow_feed(self, changes);
    },
    [=](checkpoint_atom) {
      flush_batch(self);
      if (auto err = self->state.store->checkpoint())
        spdlog::error("shard {}: checkpoint failed: {}",
                      self->state.settings.index, message_of(err));
    },
  };
}

} // namespace

shard_actor spawn_shard(caf::actor_system& sys,
                        std::unique_ptr<state_store> store, bool blocking,
                        shard_settings settings) {
  std::shared_ptr<state_store> shared{std::move(store)};
  if (blocking)
    return sys.spawn<caf::detached>(shard, std::move(shared),
                                    std::move(settings));
  return sys.spawn(shard, std::move(shared), std::move(settings));
}

} // namespace solver_state
