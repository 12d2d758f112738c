// One shard of the file backend: writes to its WAL with group commit, an
// in-memory key index, an LRU value cache and background checkpoints.

#include "backends/file/store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <system_error>
#include <thread>

#include <fcntl.h>

#include "backends/file/fold_mark.hpp"
#include "backends/file/index_file.hpp"
#include "backends/file/value.hpp"
#include "backends/transaction_check.hpp"
#include "messages/errors.hpp"
#include "messages/metrics.hpp"

namespace solver_state {

file_store::file_store(std::shared_ptr<file_base> base,
                       std::optional<wal_writer> log, key_index keys,
                       std::shared_ptr<key_budget> budget,
                       file_store_options opts)
  : base_(std::move(base)),
    tree_(base_->tree()),
    log_(std::move(log)),
    log_name_(wal_name(opts.shard, opts.log_generation)),
    log_generation_(opts.log_generation),
    budget_(std::move(budget)),
    opts_(std::move(opts)),
    last_version_(opts_.first_version),
    cache_(opts_.cache_items) {
  index_ = std::move(keys);
  for (auto& [key, meta] : index_) {
    bytes_ += key.size() + meta.size;
    if (meta.expires_at_ms != 0)
      expiries_.emplace(meta.expires_at_ms, key);
  }
  quarantined_.insert(std::make_move_iterator(opts_.quarantined.begin()),
                      std::make_move_iterator(opts_.quarantined.end()));
  opts_.quarantined.clear();
  dirty_.swap(opts_.unfolded);
  inherited_ = std::move(opts_.inherited);
  if (inherited_) {
    inherited_pending_ = !dirty_.empty();
    if (!inherited_pending_)
      if (auto err = release_inherited(tree_, *inherited_))
        spdlog::error("file backend shard {}: {}", opts_.shard,
                      message_of(err));
  }
  // A start on a full disk is read-only from the first request, not from
  // the first write that fails.
  if (!log_ || !room_for(write_room())) {
    last_error_ = make_state_error(
      state_errc::insufficient_storage,
      log_ ? "no room for writes at start" : "no room for the log " + log_name_);
    failed_for_space_ = true;
  }
}

file_store::~file_store() {
  close();
  if (fold_ && fold_->worker.joinable())
    fold_->worker.join();
  if (disposal_.joinable())
    disposal_.join();
}

std::string_view file_store::backend_name() const {
  return "file";
}

void file_store::put_meta(const std::string& key,
                          std::optional<key_meta> meta) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    if (it->second.expires_at_ms != 0)
      if (auto e = expiries_.find(expiry_order::view{it->second.expires_at_ms,
                                                     it->first});
          e != expiries_.end())
        expiries_.erase(e);
    bytes_ -= it->first.size() + it->second.size;
    if (!meta) {
      index_.erase(it);
      return;
    }
    it->second = *meta;
  } else {
    if (!meta)
      return;
    it = index_.emplace(key, *meta).first;
    // Written again: a quarantined value is replaced, once that is durable.
    if (!quarantined_.empty() && quarantined_.count(key) != 0)
      settling_.push_back(key);
  }
  bytes_ += it->first.size() + meta->size;
  if (meta->expires_at_ms != 0)
    expiries_.emplace(meta->expires_at_ms, it->first);
}

// -- reads ------------------------------------------------------------------------

caf::error file_store::quarantined_error(const std::string& key) const {
  auto q = quarantined_.find(key);
  if (q == quarantined_.end())
    return {};
  return make_value_error("key " + key + ": " + q->second.what
                          + "; write or delete the key to replace it");
}

void file_store::settle_quarantine(const std::string& key) {
  auto q = quarantined_.find(key);
  if (q == quarantined_.end())
    return;
  for (auto& file : q->second.files)
    unsettled_files_.emplace_back(key, std::move(file));
  quarantined_.erase(q);
}

void file_store::settle_durable() {
  if (unsynced_log_)
    return;
  // Should this fail, the next start settles the file itself when the log
  // or the tree has the key's write (recovery), else counts the key as
  // quarantined again: logged, not fatal.
  for (auto& [key, file] : std::exchange(unsettled_files_, {}))
    if (auto err = tree_.settle(file))
      spdlog::warn("file backend: key {} was written or deleted, but its "
                   "quarantined file stays unsettled: {}",
                   key, message_of(err));
}

caf::error file_store::quarantine_value(const std::string& key,
                                        const caf::error& corrupt) {
  auto moved = tree_.quarantine(key);
  if (!moved)
    return make_value_error(message_of(corrupt) + "; moving it into "
                            + file_tree::quarantine_dir + " failed too: "
                            + message_of(moved.error()));
  auto shown = tree_.shown(*moved);
  spdlog::error("file backend: {}; moved it to {} (kept): key {} answers "
                "backend_error until it is written or deleted",
                message_of(corrupt), shown, key);
  put_meta(key, std::nullopt);
  budget_->give_back();
  auto& q = quarantined_[key];
  q.what = "its value file failed its check (" + message_of(corrupt)
           + ") and was moved to " + shown;
  q.files.push_back(std::move(*moved));
  return quarantined_error(key);
}

caf::expected<entry> file_store::get(const std::string& key, unix_ms now) {
  auto it = index_.find(key);
  if (it == index_.end())
    if (auto err = quarantined_error(key))
      return err;
  if (it == index_.end() || expired(it->second, now))
    return make_state_error(state_errc::not_found, "no value for key");
  auto& meta = it->second;
  if (auto d = unfolded_slot(key))
    return d->data;
  if (auto value = cache_.find(key))
    return entry{*value, meta.version, meta.expires_at_ms};
  auto e = tree_.read(key);
  if (!e) {
    if (code_of(e.error()) == state_errc::not_found)
      return make_value_error("value file of an indexed key is missing: "
                              + message_of(e.error()));
    // backend_error from read() is a file that fails its checks.
    if (code_of(e.error()) == state_errc::backend_error)
      return quarantine_value(key, e.error());
    return e;
  }
  if (e->version != meta.version)
    return make_value_error("value file of " + key + " has version "
                            + std::to_string(e->version) + ", expected "
                            + std::to_string(meta.version));
  cache_.put(key, e->value);
  return e;
}

bool file_store::damaged_for_good(const std::string& key) const {
  // What get() answers with the quarantine's error: a restart keeps it, and
  // no configuration reads the moved file.
  return !quarantined_.empty() && quarantined_.count(key) != 0
         && index_.count(key) == 0;
}

bool file_store::listed_quarantine(const std::string& key) const {
  return unsettled_quarantine(key) && index_.count(key) == 0;
}

caf::expected<key_page> file_store::list(const list_request& req,
                                         unix_ms now) {
  // Quarantined keys are listed with the indexed ones, in key order: their
  // reads answer why they cannot be read, so an export fails on them (or
  // counts them as unreadable) and a delete by prefix settles them. Left
  // out, every export after the read that quarantined one completed
  // without the key, and a delete by prefix left it behind.
  key_page page;
  auto first = [&req](const auto& keys) {
    return req.after < req.prefix ? keys.lower_bound(req.prefix)
                                  : keys.upper_bound(req.after);
  };
  auto under_prefix = [&req](const std::string& key) {
    return key.compare(0, req.prefix.size(), req.prefix) == 0;
  };
  auto it = first(index_);
  auto q = first(quarantined_);
  for (;;) {
    while (it != index_.end() && under_prefix(it->first)
           && expired(it->second, now))
      ++it;
    while (q != quarantined_.end() && under_prefix(q->first)
           && !listed_quarantine(q->first))
      ++q;
    bool indexed = it != index_.end() && under_prefix(it->first);
    bool quarantined = q != quarantined_.end() && under_prefix(q->first);
    if (!indexed && !quarantined)
      break;
    if (req.limit != 0 && page.keys.size() == req.limit) {
      page.more = true;
      break;
    }
    if (indexed && (!quarantined || it->first < q->first))
      page.keys.push_back((it++)->first);
    else
      page.keys.push_back((q++)->first);
  }
  return page;
}

// -- writes -------------------------------------------------------------------------

void file_store::remember(const std::string& key) {
  undo_step step{key, std::nullopt, std::nullopt};
  if (auto it = index_.find(key); it != index_.end())
    step.meta = it->second;
  if (auto d = dirty_.find(key); d != dirty_.end())
    step.dirty = std::move(d->second);
  undo_.push_back(std::move(step));
}

namespace {

/// payload_too_large for a value too long for the log, else empty. The
/// shard enforces state.max_value_bytes (at most 1 GiB) first; this guards
/// the u32 lengths on disk, so nothing is acknowledged that replay could
/// not read back.
caf::error value_size_problem(size_t bytes) {
  if (bytes <= max_file_value_bytes)
    return {};
  return make_state_error(state_errc::payload_too_large,
                          "the file backend stores values of at most "
                            + std::to_string(max_file_value_bytes)
                            + " bytes");
}

caf::error capacity_problem(const key_budget& budget) {
  return make_state_error(state_errc::capacity_exceeded,
                          "store holds max_items="
                            + std::to_string(budget.max_items()) + " keys");
}

} // namespace

void file_store::apply_put(const std::string& key, std::string&& value,
                           version_t version, unix_ms expires_at) {
  remember(key);
  put_meta(key, key_meta{version, expires_at, value.size()});
  cache_.erase(key);
  auto& slot = dirty_[key];
  slot.removed = false;
  slot.data = entry{std::move(value), version, expires_at};
}

bool file_store::unsettled_quarantine(const std::string& key) const {
  return !quarantined_.empty() && quarantined_.count(key) != 0
         && std::find(settling_.begin(), settling_.end(), key)
              == settling_.end();
}

void file_store::apply_quarantined_erase(const std::string& key,
                                         version_t version) {
  remember(key);
  dirty_[key] = dirty_slot{true, entry{{}, version, 0}};
  settling_.push_back(key); // once the delete is durable
}

void file_store::apply_erase(const std::string& key, version_t version) {
  remember(key);
  put_meta(key, std::nullopt);
  cache_.erase(key);
  dirty_[key] = dirty_slot{true, entry{{}, version, 0}};
}

caf::expected<write_result> file_store::set(set_request&& req,
                                            unix_ms expires_at, unix_ms now) {
  if (auto err = value_size_problem(req.value.size()))
    return err;
  auto it = index_.find(req.key);
  bool live = it != index_.end() && !expired(it->second, now);
  if (req.cond.kind == condition::if_absent && live)
    return make_state_error(state_errc::version_mismatch, "key exists");
  if (req.cond.kind == condition::if_version
      && (!live || it->second.version != req.cond.version))
    return make_state_error(state_errc::version_mismatch,
                            live ? "version differs" : "key does not exist");
  if (auto err = refuse_writes())
    return err;
  bool indexed = it != index_.end(); // `it` is not used past a reclaim
  if (!indexed && !take_new_key(now))
    return capacity_problem(*budget_);
  if (indexed && !live)
    note_expired_by_write(req.key);
  auto version = ++last_version_;
  log_->encode(pending_, wal_op::put, req.key, req.value, version,
               expires_at);
  apply_put(req.key, std::move(req.value), version, expires_at);
  return write_result{version, !live};
}

caf::expected<bool> file_store::erase(const delete_request& req,
                                      unix_ms now) {
  auto it = index_.find(req.key);
  bool live = it != index_.end() && !expired(it->second, now);
  if (req.cond.kind == condition::if_version
      && (!live || it->second.version != req.cond.version))
    return make_state_error(state_errc::version_mismatch,
                            live ? "version differs" : "key does not exist");
  if (req.cond.kind == condition::if_absent && live)
    return make_state_error(state_errc::version_mismatch, "key exists");
  if (it == index_.end()) {
    // Its file is in quarantine: deleting the key settles it. The delete is
    // logged and folded like any other, because the shard's index file may
    // still name the key (a read quarantined it after the last fold).
    // Deleted already in this group commit: gone, as for a reader after it.
    bool quarantined = unsettled_quarantine(req.key);
    if (quarantined) {
      if (auto err = refuse_writes(write_kind::remove))
        return err;
      auto version = ++last_version_;
      log_->encode(pending_, wal_op::erase, req.key, {}, version, 0);
      apply_quarantined_erase(req.key, version);
    }
    return quarantined;
  }
  if (auto err = refuse_writes(write_kind::remove))
    return err;
  if (!live)
    note_expired_by_write(req.key);
  auto version = ++last_version_;
  log_->encode(pending_, wal_op::erase, req.key, {}, version, 0);
  apply_erase(req.key, version);
  budget_->give_back();
  return live;
}

file_store::spared_keys
file_store::keys_of(const std::vector<pending_op>& ops) {
  spared_keys out;
  for (auto& op : ops)
    out.insert(op.target());
  return out;
}

bool file_store::reclaim_expired(unix_ms now, const spared_keys& spared) {
  auto e = expiries_.begin();
  while (e != expiries_.end() && e->first <= now
         && spared.count(e->second) != 0)
    ++e;
  if (e == expiries_.end() || e->first > now)
    return false;
  std::string key{e->second}; // the entry goes with the key
  remember(key);
  auto version = index_.find(key)->second.version;
  put_meta(key, std::nullopt);
  budget_->give_back();
  cache_.erase(key);
  // No log record, as for the sweep: a restart finds the value expired.
  // Unlike the sweep's, this removal is undone with its batch (the shard
  // discards its expire event with the batch's changes).
  dirty_[key] = dirty_slot{true, entry{{}, version, 0}};
  note_expired_by_write(key);
  return true;
}

bool file_store::take_new_key(unix_ms now, const spared_keys& spared) {
  if (budget_->try_take())
    return true;
  // Past their expiry, keys hold budget until the sweep drops them (a
  // sweep_interval later, and never while a batch waits for its commit):
  // a full store refused new keys for keys no reader could see any more.
  auto mark = undo_.size();
  auto noted = expired_by_writes_noted();
  while (!budget_->try_take())
    if (!reclaim_expired(now, spared)) {
      // Refused, the write changes nothing: the sweep drops them.
      undo_since(mark);
      forget_expired_by_writes_after(noted);
      return false;
    }
  return true;
}

caf::expected<file_store::key_changes>
file_store::take_new_keys(const std::vector<pending_op>& ops, unix_ms now) {
  auto mark = undo_.size();
  auto noted = expired_by_writes_noted();
  spared_keys spared; // the ops' keys, once a reclaim needs them
  key_changes changes;
  for (auto& op : ops) {
    bool indexed = index_.count(op.target()) != 0;
    if (op.kind == pending_op::set && !indexed)
      ++changes.created;
    else if (op.kind == pending_op::erase && indexed)
      ++changes.removed;
  }
  for (size_t taken = 0; taken < changes.added(); ++taken)
    if (!budget_->try_take()) {
      if (spared.empty())
        spared = keys_of(ops);
      if (!take_new_key(now, spared)) {
        budget_->give_back(taken);
        undo_since(mark);
        forget_expired_by_writes_after(noted);
        return capacity_problem(*budget_);
      }
    }
  return changes;
}

caf::error file_store::transact(std::vector<pending_op>& ops, unix_ms now) {
  // Conditions are judged by the index, as set() and erase() judge them:
  // no value is read (a transaction over keys holding 16 MiB values read
  // each one whole), and a key whose value cannot be read is live when
  // indexed, absent when quarantined, as for a single write.
  std::vector<bool> ops_live(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    auto& cond = op.kind == pending_op::set ? op.write.cond : op.removal.cond;
    auto it = index_.find(op.target());
    ops_live[i] = it != index_.end() && !expired(it->second, now);
    entry held{{}, ops_live[i] ? it->second.version : 0, 0};
    if (auto err = transaction_condition_problem(op.target(), cond, held))
      return err;
  }
  for (auto& op : ops)
    if (op.kind == pending_op::set)
      if (auto err = value_size_problem(op.write.value.size()))
        return err;
  // Everything that can refuse the transaction comes before the first
  // change in memory: a full disk, the key budget, then the size of its
  // log record. One that only deletes (a delete by prefix) is a delete.
  bool removes_only = std::none_of(ops.begin(), ops.end(), [](auto& op) {
    return op.kind == pending_op::set;
  });
  if (auto err = refuse_writes(removes_only ? write_kind::remove
                                            : write_kind::store))
    return err;
  auto undo_mark = undo_.size();
  auto noted = expired_by_writes_noted();
  auto changes = take_new_keys(ops, now);
  if (!changes)
    return std::move(changes.error());
  // What the log records, as set() and erase() would one by one: an erase
  // of a key not indexed (nor quarantined) changes nothing and is not
  // logged.
  std::vector<wal_txn_op> logged;
  auto version = last_version_;
  for (auto& op : ops) {
    if (op.kind == pending_op::set)
      logged.push_back({wal_op::put, op.write.key, op.write.value, ++version,
                        op.expires_at});
    else if (index_.count(op.removal.key) != 0
             || unsettled_quarantine(op.removal.key))
      logged.push_back({wal_op::erase, op.removal.key, {}, ++version, 0});
  }
  if (!logged.empty())
    if (auto err = log_->encode_txn(pending_, logged)) {
      budget_->give_back(changes->added());
      undo_since(undo_mark); // the keys it reclaimed
      forget_expired_by_writes_after(noted);
      return err;
    }
  last_version_ = version;
  auto next = logged.begin();
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    // A quarantined key is not live: a write creates it and a delete
    // settles it.
    bool live = ops_live[i];
    if (!live && index_.count(op.target()) != 0)
      note_expired_by_write(op.target()); // held, past its expiry
    if (op.kind == pending_op::set) {
      auto v = (next++)->version;
      apply_put(op.write.key, std::move(op.write.value), v, op.expires_at);
      op.written = write_result{v, !live};
    } else if (next != logged.end() && next->key == op.removal.key) {
      if (index_.count(op.removal.key) != 0) {
        apply_erase(op.removal.key, (next++)->version);
        op.erased = live;
      } else {
        apply_quarantined_erase(op.removal.key, (next++)->version);
        op.erased = true;
      }
    } else {
      op.erased = false;
    }
  }
  // The room of the keys it removed went to those it created first.
  budget_->give_back(changes->freed());
  return {};
}

size_t file_store::sweep(unix_ms now, std::vector<std::string>* expired) {
  // An uncommitted batch may still be undone; sweep after it settles.
  if (!pending_.empty())
    return 0;
  size_t dropped = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now
         && dropped < max_sweep_keys) {
    std::string key{expiries_.begin()->second};
    auto version = index_.find(key)->second.version;
    put_meta(key, std::nullopt);
    budget_->give_back();
    cache_.erase(key);
    // No log record needed: a restart finds the value expired anyway.
    dirty_[key] = dirty_slot{true, entry{{}, version, 0}};
    if (expired)
      expired->push_back(std::move(key));
    ++dropped;
  }
  return dropped;
}

void file_store::undo_since(size_t mark) {
  for (; undo_.size() > mark; undo_.pop_back()) {
    auto& step = undo_.back();
    bool exists_now = index_.count(step.key) != 0;
    if (step.meta && !exists_now)
      budget_->take();
    else if (!step.meta && exists_now)
      budget_->give_back();
    put_meta(step.key, step.meta);
    cache_.erase(step.key);
    if (step.dirty)
      dirty_[step.key] = std::move(*step.dirty);
    else
      dirty_.erase(step.key);
  }
}

void file_store::roll_back() {
  undo_since(0);
  // Neither written nor deleted: what quarantined them still answers.
  settling_.clear();
}

void file_store::settle_committed() {
  for (auto& key : std::exchange(settling_, {}))
    settle_quarantine(key);
  // Under always the commit synced its batch; otherwise the next sync of
  // the log settles them (checkpoint, switch_log, close).
  if (opts_.fsync == fsync_policy::always)
    settle_durable();
}

// -- durability ------------------------------------------------------------------------

bool file_store::has_pending_commit() const {
  return !pending_.empty() || deferred_error_;
}

caf::error file_store::commit() {
  if (deferred_error_) {
    pending_.clear();
    roll_back();
    return std::exchange(deferred_error_, caf::error{});
  }
  if (pending_.empty()) {
    settle_committed();
    return {};
  }
  auto syncs = opts_.fsync == fsync_policy::always;
  auto started = std::chrono::steady_clock::now();
  auto err = log_->append(pending_, syncs);
  if (syncs && !err)
    count_sync(std::chrono::steady_clock::now() - started);
  pending_.clear();
  if (err) {
    roll_back();
    last_error_ = err;
    failed_for_space_ = !room_for(write_room());
    log_commit_failure(err);
    return err;
  }
  undo_.clear();
  settle_committed();
  last_error_ = caf::error{};
  continue_folding();
  wait_while_fold_lags();
  return {};
}

void file_store::continue_folding() {
  if (auto err = reap_fold(false))
    spdlog::error("file backend shard {}: checkpoint failed: {}", opts_.shard,
                  message_of(err));
  if (log_->size() > opts_.fold_log_bytes)
    if (auto err = start_fold())
      spdlog::error("file backend shard {}: checkpoint failed: {}",
                    opts_.shard, message_of(err));
}

std::chrono::microseconds
file_store::backpressure_pause(uint64_t log_bytes,
                               uint64_t max_unfolded_bytes) {
  auto half = max_unfolded_bytes / 2;
  if (log_bytes <= half)
    return std::chrono::microseconds{0};
  auto span = std::max<uint64_t>(max_unfolded_bytes - half, 1);
  auto past = std::min(log_bytes - half, span);
  auto most = std::chrono::duration_cast<std::chrono::microseconds>(
                backpressure_wait)
                .count();
  return std::chrono::microseconds{static_cast<int64_t>(
    static_cast<double>(most) * static_cast<double>(past)
    / static_cast<double>(span))};
}

void file_store::wait_while_fold_lags() {
  if (!fold_ || !log_ || log_->size() <= opts_.max_unfolded_bytes / 2)
    return;
  // Writes outrun the fold (a file per new key costs more than a log
  // record): without a limit the unfolded values would fill the memory.
  // The acknowledgements wait instead, so writers slow to the fold's pace:
  // past half the limit each commit waits the longer the further past half
  // the log is (reads are served in between), past the limit until the
  // fold is done. The wait grows with the log, so writers settle at the
  // fold's pace, each waiting about as long as the others: a full
  // backpressure_wait for every commit past half had some writes wait
  // hundreds of milliseconds between bursts that went through at once
  // (p99 200-420 ms under a sustained load of new keys, bench/README.md).
  bool at_limit = log_->size() > opts_.max_unfolded_bytes;
  auto started = std::chrono::steady_clock::now();
  if (started - last_lag_log_ >= std::chrono::minutes{1}) {
    last_lag_log_ = started;
    spdlog::warn("file backend shard {}: the fold lags behind the writes: "
                 "{} KiB of log unfolded (state.file.max_unfolded_bytes: {} "
                 "KiB); acknowledgements wait for it",
                 opts_.shard, (log_->size() + folding_bytes_) >> 10,
                 opts_.max_unfolded_bytes >> 10);
  }
  auto deadline = started
                  + backpressure_pause(log_->size(), opts_.max_unfolded_bytes);
  // In steps of at most 1 ms, to see the fold end; a pause shorter than
  // that is slept as it is (pauses near half the limit are microseconds).
  constexpr std::chrono::steady_clock::duration step =
    std::chrono::milliseconds{1};
  for (auto now = started; !fold_->done.load(std::memory_order_acquire);
       now = std::chrono::steady_clock::now()) {
    if (!at_limit && now >= deadline)
      break;
    std::this_thread::sleep_for(at_limit ? step
                                         : std::min(step, deadline - now));
  }
  backpressure_seconds_ += std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - started)
                             .count();
  if (fold_->done.load(std::memory_order_acquire))
    continue_folding();
}

void file_store::log_commit_failure(const caf::error& err) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_failure_log_ < std::chrono::seconds{10}) {
    ++failures_unlogged_;
    return;
  }
  if (failures_unlogged_ > 0)
    spdlog::error("file backend shard {}: {} (and {} more failed writes in "
                  "the last 10 s)",
                  opts_.shard, message_of(err), failures_unlogged_);
  else
    spdlog::error("file backend shard {}: {}", opts_.shard, message_of(err));
  failures_unlogged_ = 0;
  last_failure_log_ = now;
}

const file_store::dirty_slot*
file_store::unfolded_slot(const std::string& key) const {
  if (auto d = dirty_.find(key); d != dirty_.end())
    return &d->second;
  if (fold_)
    if (auto f = fold_->changes.find(key); f != fold_->changes.end())
      return &f->second;
  return nullptr;
}

size_t file_store::unfolded() const {
  return dirty_.size() + (fold_ ? fold_->changes.size() : 0);
}

bool file_store::room_for(uint64_t bytes) const {
  uint64_t free = 0;
  if (base_->env->free_bytes(base_->root.get(), free) != 0)
    return true; // cannot tell: let the write say
  return free >= bytes;
}

namespace {

/// What a write or a fold keeps free beyond what it needs.
constexpr uint64_t space_slack = 1u << 20;

/// A value file takes a block at least.
constexpr uint64_t file_block = 4096;

} // namespace

bool file_store::out_of_space() const {
  return !log_ || (last_error_ && failed_for_space_);
}

void file_store::probe_space() {
  if (!out_of_space() || !room_for(write_room()))
    return;
  if (!log_) {
    auto log = wal_writer::create(base_->env, base_->root.get(), log_name_,
                                  base_->path + "/" + log_name_,
                                  opts_.fsync == fsync_policy::always);
    if (!log) {
      last_error_ = std::move(log.error());
      return;
    }
    log_ = std::move(*log);
  }
  spdlog::info("file backend shard {}: space is back under {}, accepting "
               "writes again (last failure: {})",
               opts_.shard, base_->path, message_of(last_error_));
  last_error_ = caf::error{};
  failed_for_space_ = false;
}

uint64_t file_store::unfolded_bytes() const {
  // Records only: a log's header is not a write waiting for the fold (an
  // idle store reads 0).
  return (log_ ? log_->size() - wal_header_bytes : 0) + folding_bytes_
         + retired_bytes_;
}

caf::error file_store::refuse_past_backlog(write_kind kind) const {
  auto times = unfolded_bytes_refused_at + (kind == write_kind::remove ? 1 : 0);
  auto most = times * opts_.max_unfolded_bytes;
  auto held = unfolded_bytes();
  if (held <= most)
    return {};
  std::string why = "the fold cannot keep up";
  if (fold_postponed_)
    why = "no fold can start for want of space under " + base_->path;
  else if (last_fold_failure_)
    why = "the folds fail: " + message_of(last_fold_failure_);
  return make_state_error(
    fold_postponed_ ? state_errc::insufficient_storage
                    : state_errc::backend_unavailable,
    "writes refused: " + std::to_string(held >> 10)
      + " KiB of writes are not folded into the tree yet ("
      + std::to_string(times) + " x state.file.max_unfolded_bytes is " + std::to_string(most >> 10)
      + " KiB), because " + why
      + "; reads go on, and writes resume once a fold gets through");
}

caf::error file_store::refuse_writes(write_kind kind) {
  if (auto err = refuse_past_backlog(kind))
    return err;
  if (!out_of_space())
    return {};
  probe_space();
  if (!out_of_space())
    return {};
  uint64_t free = 0;
  auto known = base_->env->free_bytes(base_->root.get(), free) == 0;
  return make_state_error(
    state_errc::insufficient_storage,
    "read-only: the disk under " + base_->path + " is full ("
      + (known ? std::to_string(free) + " bytes free, " : std::string{})
      + "writes resume by themselves once " + std::to_string(write_room())
      + " are); reads go on. Last failure: " + message_of(last_error_));
}

uint64_t file_store::write_room() const {
  return (opts_.fsync == fsync_policy::always ? wal_chunk_bytes : 0)
         + space_slack;
}

uint64_t file_store::fold_room() const {
  // Every unfolded value is an indexed key's, so bytes_ bounds them: only
  // a filesystem with less free than that bound pays for the exact sum.
  // The shard's index file is rewritten too (about 64 bytes a key).
  auto bound = write_room() + bytes_ + dirty_.size() * file_block
               + index_.size() * 64;
  if (room_for(bound))
    return bound;
  uint64_t bytes = write_room() + index_.size() * 64;
  for (auto& [key, slot] : dirty_)
    bytes += file_block + key.size()
             + (slot.removed ? 0 : slot.data.value.size());
  return bytes;
}

caf::error file_store::start_fold() {
  if (!pending_.empty())
    return {}; // only committed writes may reach the tree
  if (!log_)
    return {}; // started on a full disk: the log comes first
  if (auto err = reap_fold(false))
    return err;
  if (fold_ || dirty_.empty())
    return {};
  // A fold that cannot finish would take the space writes need (a new log
  // and value files) and leave the disk full: it waits for room instead,
  // and the log keeps serving meanwhile.
  fold_postponed_ = false;
  if (auto needed = fold_room(); !room_for(needed)) {
    fold_postponed_ = true;
    auto now = std::chrono::steady_clock::now();
    if (now - last_postponed_log_ >= std::chrono::minutes{1}) {
      last_postponed_log_ = now;
      spdlog::warn("file backend shard {}: checkpoint postponed: the fold of "
                   "{} keys needs about {} bytes free under {}; the log "
                   "keeps every write meanwhile",
                   opts_.shard, dirty_.size(), needed, base_->path);
    }
    return {};
  }
  if (log_->size() > wal_header_bytes)
    if (auto err = switch_log()) {
      last_fold_failure_ = err; // why writes may come to be refused
      return err;
    }
  // Else the log in use holds no record (a fold of swept keys alone, or an
  // idle store retrying a fold that failed): it stays in use. A new log
  // each time would add its megabytes to the disk at every checkpoint for
  // as long as a fold keeps failing, and nothing to fold.
  folding_bytes_ += std::exchange(retired_bytes_, 0);
  fold_ = std::make_unique<fold_job>();
  auto job = fold_.get();
  job->after_sync_failure = static_cast<bool>(unsynced_log_);
  job->changes = std::move(dirty_);
  dirty_.clear();
  job->logs = std::move(retired_logs_);
  retired_logs_.clear();
  job->inherited = inherited_;
  job->carries_inherited = inherited_pending_;
  job->high_water = last_version_;
  job->keep_newest = opts_.cache_items;
  if (!spare_ready_)
    job->spare = wal_spare_name(opts_.shard);
  job->worker = std::thread([job, tree = tree_, shard = opts_.shard] {
    std::vector<tree_change> changes;
    changes.reserve(job->changes.size());
    for (auto& [key, slot] : job->changes)
      changes.push_back({&key, slot.removed ? nullptr : &slot.data});
    // A start that finds the mark knows which temp files may be left: those
    // of the keys the fold writes (a removal writes none).
    std::vector<const std::string*> keys;
    keys.reserve(changes.size());
    for (auto& change : changes)
      if (change.data)
        keys.push_back(change.key);
    auto leftovers = write_fold_mark(tree, shard, keys);
    caf::error err = leftovers ? caf::error{} : std::move(leftovers.error());
    // An interrupted fold's temp files that this one will not overwrite.
    if (!err)
      err = tree.remove_temps_of(*leftovers, &job->cancel);
    if (!err)
      err = tree.apply(std::move(changes), &job->cancel);
    // Versions of removed keys leave the log now: keep the high-water mark.
    if (!err)
      err = tree.write_root_file(hwm_name(shard), encode_hwm(job->high_water));
    // Before any log goes: the index plus the logs left describe the shard.
    // A stop skips it (a second or more for a million keys): the logs stay.
    if (!err && job->cancel.load(std::memory_order_relaxed))
      err = make_state_error(state_errc::backend_unavailable,
                             "fold cancelled by a stop");
    if (!err)
      err = fold_into_index(tree, shard, job->changes);
    if (!err && job->carries_inherited) {
      err = release_inherited(tree, *job->inherited);
      job->released_inherited = !err;
    }
    if (!err)
      err = retire_logs(tree, *job);
    if (!err)
      if (int rc = tree.env().sync(tree.root_fd(), false); rc != 0)
        err = io_failure("cannot sync directory", tree.root_path(), rc);
    // Left behind, a mark only costs the next start a walk of the names.
    if (!err)
      tree.env().unlink_at(tree.root_fd(), fold_mark_name(shard));
    if (!err)
      pick_newest(*job);
    job->result = std::move(err);
    job->done.store(true, std::memory_order_release);
  });
  return {};
}

caf::expected<wal_writer> file_store::next_log(const std::string& name) {
  auto path = base_->path + "/" + name;
  auto& env = base_->env;
  bool preallocate = opts_.fsync == fsync_policy::always;
  if (std::exchange(spare_ready_, false)) {
    auto log = wal_writer::recycle(env, base_->root.get(),
                                   wal_spare_name(opts_.shard), name, path,
                                   preallocate);
    if (log)
      return log;
    spdlog::warn("file backend shard {}: creating a new log: {}", opts_.shard,
                 message_of(log.error()));
  }
  return wal_writer::create(env, base_->root.get(), name, path, preallocate);
}

caf::error file_store::release_inherited(const file_tree& tree,
                                         inherited_logs& inherited) {
  auto left = inherited.shards_left.load();
  while (left > 1)
    if (inherited.shards_left.compare_exchange_weak(left, left - 1))
      return {};
  if (left == 0)
    return {};
  // The last part: every shard's part is in the tree, so the logs can go.
  // The count drops only once they are gone, so that no shard retires a
  // log of its own while they are still there.
  for (auto& name : inherited.names)
    if (int rc = tree.env().unlink_at(tree.root_fd(), name);
        rc != 0 && rc != -ENOENT)
      return io_failure("cannot remove folded log",
                        tree.root_path() + "/" + name, rc);
  if (int rc = tree.env().sync(tree.root_fd(), false); rc != 0)
    return io_failure("cannot sync directory", tree.root_path(), rc);
  inherited.shards_left.store(0);
  spdlog::info("file backend: the {} logs of the last run are folded and "
               "removed",
               inherited.names.size());
  return {};
}

caf::error file_store::retire_logs(const file_tree& tree, fold_job& job) {
  if (job.inherited && job.inherited->shards_left.load() > 0) {
    job.logs_kept = true;
    return {};
  }
  auto& logs = job.logs;
  // The newest retired log becomes the spare: its space is allocated and
  // written, so the next log reuses it instead of zero-filling a new file.
  size_t keep = job.spare.empty() || logs.empty() ? logs.size()
                                                  : logs.size() - 1;
  for (size_t i = 0; i < logs.size(); ++i) {
    int rc = i == keep ? tree.env().rename_at(tree.root_fd(), logs[i],
                                              tree.root_fd(), job.spare)
                       : tree.env().unlink_at(tree.root_fd(), logs[i]);
    // Gone already: an earlier fold that failed later removed it.
    if (rc == -ENOENT)
      continue;
    if (rc != 0)
      return io_failure(i == keep ? "cannot keep folded log"
                                  : "cannot remove folded log",
                        tree.root_path() + "/" + logs[i], rc);
    job.kept_spare = i == keep;
  }
  return {};
}

caf::error file_store::switch_log() {
  // Writes from now on go to another log; the old one is recycled (or
  // deleted) once the tree holds everything it recorded. Under interval or
  // never its tail is not on disk yet, and checkpoints sync only the log in
  // use: sync it now, or a power cut could lose its writes while keeping
  // later ones of the new log (a loss that is not a prefix), or after a
  // clean stop that cancelled the fold.
  if (opts_.fsync != fsync_policy::always && log_->synced() < log_->size()) {
    auto started = std::chrono::steady_clock::now();
    if (auto err = log_->sync()) {
      unsynced_log_ = err; // as a checkpoint's failed sync (checkpoint())
      return err;
    }
    count_sync(std::chrono::steady_clock::now() - started);
  }
  if (opts_.fsync != fsync_policy::always)
    settle_durable(); // the log is synced to its end
  auto next = next_log(wal_name(opts_.shard, ++log_generation_));
  if (!next)
    return std::move(next.error());
  auto name = wal_name(opts_.shard, log_generation_);
  folding_bytes_ = log_->size() - wal_header_bytes;
  retired_logs_.push_back(std::exchange(log_name_, name));
  log_ = std::move(*next);
  return {};
}

caf::error file_store::reap_fold(bool wait) {
  if (!fold_ || !pending_.empty())
    return {};
  if (!wait && !fold_->done.load(std::memory_order_acquire))
    return {};
  fold_->worker.join();
  auto job = std::move(fold_);
  auto job_bytes = std::exchange(folding_bytes_, 0);
  auto err = std::move(job->result);
  spare_ready_ = spare_ready_ || job->kept_spare;
  if (job->released_inherited)
    inherited_pending_ = false;
  if (err) {
    // Newer writes in dirty_ win; the rest is folded again next time.
    for (auto& [key, slot] : job->changes)
      dirty_.try_emplace(key, std::move(slot));
    retired_logs_.insert(retired_logs_.end(), job->logs.begin(),
                         job->logs.end());
    retired_bytes_ += job_bytes; // still to fold: counted as unfolded
    fold_error_ = err;
    last_fold_failure_ = err;
  } else {
    last_fold_failure_ = caf::error{};
    if (job->after_sync_failure)
      unsynced_log_ = caf::error{};
    // Oldest first: the newest ends up the most recently used.
    for (auto& [key, slot] : job->newest)
      if (dirty_.count(*key) == 0)
        cache_.put(*key, std::move(slot->data.value));
    if (job->logs_kept) // retired by a later fold
      retired_logs_.insert(retired_logs_.begin(), job->logs.begin(),
                           job->logs.end());
    if (inherited_ && inherited_->shards_left.load() == 0)
      inherited_.reset();
  }
  dispose(std::move(job));
  return err;
}

void file_store::dispose(std::unique_ptr<fold_job> job) {
  if (disposal_.joinable())
    disposal_.join(); // long done: a fold takes longer than freeing one
  try {
    disposal_ = std::thread([job = std::move(job)] {});
  } catch (const std::system_error&) {
    // No thread to be had: the job was freed here instead.
  }
}

void file_store::pick_newest(fold_job& job) {
  auto& out = job.newest;
  if (job.keep_newest == 0)
    return;
  out.reserve(std::min(job.keep_newest, job.changes.size()));
  auto newer = [](const auto& a, const auto& b) {
    return a.second->data.version > b.second->data.version;
  };
  // A heap of the newest so far, the oldest of them on top: one pass, and
  // memory for keep_newest of them, however many the fold carried.
  for (auto& [key, slot] : job.changes) {
    if (slot.removed)
      continue;
    if (out.size() < job.keep_newest) {
      out.emplace_back(&key, &slot);
      std::push_heap(out.begin(), out.end(), newer);
    } else if (slot.data.version > out.front().second->data.version) {
      std::pop_heap(out.begin(), out.end(), newer);
      out.back() = {&key, &slot};
      std::push_heap(out.begin(), out.end(), newer);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second->data.version < b.second->data.version;
  });
}

caf::error file_store::finish_fold() {
  auto err = reap_fold(true);
  fold_error_ = caf::error{};
  return err;
}

caf::error file_store::checkpoint() {
  // A write failed on a full disk: readiness comes back within one
  // sync_interval of the space, not only after a client's write succeeds.
  probe_space();
  if (!pending_.empty())
    if (auto err = commit()) {
      // The shard still holds these writes' acknowledgements: its next
      // commit_atom must fail them.
      deferred_error_ = err;
      return err;
    }
  if (opts_.fsync != fsync_policy::always && log_) {
    auto started = std::chrono::steady_clock::now();
    bool had_unsynced = log_->synced() < log_->size();
    if (auto err = log_->sync()) { // interval: on disk within sync_interval
      if (had_unsynced) { // else it put no write in doubt
        unsynced_log_ = err;
        spdlog::error("file backend shard {}: {}; the values it holds stay "
                      "in memory until a fold puts them in the tree, and "
                      "readiness reports it until then",
                      opts_.shard, message_of(err));
      }
      return err;
    }
    count_sync(std::chrono::steady_clock::now() - started);
    settle_durable();
  }
  auto err = start_fold();
  forget_unsynced_log_once_folded();
  if (!err)
    err = std::exchange(fold_error_, caf::error{});
  return err;
}

namespace {

/// The fold stopped because close() cancelled it (file_tree::apply): the
/// only backend_unavailable a fold returns.
bool fold_cancelled(const caf::error& err) {
  return code_of(err) == state_errc::backend_unavailable;
}

} // namespace

caf::error file_store::fold_what_a_failed_sync_left() {
  // The sync above may succeed over pages the kernel dropped (it reports a
  // lost writeback once): the log cannot be trusted with the values, so they
  // go into the tree from memory, however long the folds take. The running
  // fold is waited for, not cancelled.
  if (auto err = reap_fold(true))
    return err;
  if (!dirty_.empty()) {
    if (auto err = start_fold())
      return err;
    if (auto err = reap_fold(true))
      return err;
  }
  forget_unsynced_log_once_folded();
  return unsynced_log_; // a fold postponed for space leaves it in doubt
}

void file_store::forget_unsynced_log_once_folded() {
  // No fold running and nothing left to fold: every write is in the tree,
  // whichever fold put it there (a fold writes the values it carries from
  // memory, through syncs of its own).
  if (unsynced_log_ && !fold_ && dirty_.empty()) {
    unsynced_log_ = caf::error{};
    settle_durable();
  }
}

caf::error file_store::close() {
  if (closed_)
    return {};
  closed_ = true;
  // Every step runs even after one failed, and the first error is what the
  // caller hears: a close that could not make every acknowledged write
  // durable must never read as a clean shutdown.
  caf::error first;
  auto keep = [&](caf::error err, const char* step) {
    if (!err)
      return;
    spdlog::error("file backend shard {}: close: {}: {}", opts_.shard, step,
                  message_of(err));
    if (!first)
      first = std::move(err);
  };
  keep(commit(), "commit");
  // Under interval and never the log holds acknowledged writes no fdatasync
  // covered yet (under always there is nothing left to flush, and it is
  // cheap). Once synced, the log is all the next start needs.
  auto synced = log_ ? log_->sync() : caf::error{};
  bool durable = !synced;
  keep(std::move(synced), "sync");
  if (unsynced_log_) {
    auto folded = fold_what_a_failed_sync_left();
    durable = !folded;
    keep(std::move(folded), "after a failed log sync");
  }
  if (durable) // every write in a synced log, or in the tree
    settle_durable();
  if (fold_) {
    fold_->cancel.store(true, std::memory_order_relaxed);
    if (fold_->worker.joinable())
      fold_->worker.join();
    // Not reaped: what the fold did not write is in the logs for the next
    // start, and a closed store serves no read, so its changes are not
    // merged back into dirty_. After a write load that merge was a hash
    // insert for each of half a million keys: a third of the stop.
    if (auto& err = fold_->result; err && !fold_cancelled(err))
      spdlog::warn("file backend shard {}: close: the last checkpoint "
                   "failed ({}); the next start folds its logs",
                   opts_.shard, message_of(err));
  }
  if (disposal_.joinable())
    disposal_.join();
  return first;
}

caf::error file_store::keep_snapshot(std::string bytes) {
  if (opts_.index_set == 0)
    return make_state_error(state_errc::backend_error,
                            "the shard has no key index to bind it to");
  // At the end: no copy of the snapshot to put it in front, none to take
  // it off.
  put_u64(bytes, opts_.index_set);
  return base_->tree().write_root_file(snapshot_file_name(opts_.shard),
                                       bytes);
}

caf::expected<std::optional<std::string>> file_store::take_snapshot() {
  auto bytes = std::exchange(opts_.kept_snapshot, std::nullopt);
  if (!bytes)
    return bytes;
  if (bytes->size() < 8 || opts_.index_set == 0
      || get_u64(bytes->data() + bytes->size() - 8) != opts_.index_set)
    return make_state_error(state_errc::backend_error,
                            base_->path + "/"
                              + snapshot_file_name(opts_.shard)
                              + " was kept with another key index (the tree "
                                "was scanned since)");
  bytes->resize(bytes->size() - 8);
  return bytes;
}

caf::error file_store::health_check() {
  // After a failed write the store is not ready; on a full disk it is again
  // once the filesystem has room for the next write (that write still says
  // for sure), after any other failure once a write succeeds.
  if (auto err = refuse_writes())
    return err;
  if (unsynced_log_)
    return unsynced_log_;
  return last_error_;
}

void file_store::count_sync(std::chrono::steady_clock::duration took) {
  std::chrono::duration<double> seconds = took;
  sync_buckets_.resize(bucket_count);
  auto bound = std::lower_bound(duration_bounds.begin(), duration_bounds.end(),
                                seconds.count());
  ++sync_buckets_[static_cast<size_t>(bound - duration_bounds.begin())];
  sync_seconds_ += seconds.count();
}

store_stats file_store::stats() const {
  store_stats out;
  out.keys = index_.size();
  out.bytes = bytes_;
  out.quarantined = quarantined_.size();
  out.log_syncs.buckets = sync_buckets_;
  out.log_syncs.buckets.resize(bucket_count);
  out.log_syncs.seconds = sync_seconds_;
  out.fold.active = true;
  out.fold.unfolded_bytes = unfolded_bytes();
  out.fold.backpressure_seconds = backpressure_seconds_;
  return out;
}

} // namespace solver_state
