// A shard of the rocksdb backend: point reads and conditional writes on its
// column family, one write batch per change (the value, its expiry-index
// entry and the shard totals together), group commit by syncing the shared
// log once per group.

#include "backends/rocksdb/store.hpp"

#include <algorithm>
#include <deque>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include "backends/rocksdb/snapshot_file.hpp"
#include "backends/transaction_check.hpp"
#include "messages/errors.hpp"
#include "messages/metrics.hpp"

namespace solver_state {

namespace {

bool expired(unix_ms expires_at, unix_ms now) {
  return expires_at != 0 && expires_at <= now;
}

/// One value that cannot be read, where the engine works: a walk over many
/// keys (an index build, a query page, a rotation) goes past it.
caf::error damaged(const std::string& key) {
  return make_value_error("rocksdb: the stored value of '" + key
                          + "' is damaged");
}

caf::error closed() {
  return make_state_error(state_errc::backend_unavailable,
                          "rocksdb: the store is closed");
}

caf::error capacity_problem(const key_budget& budget) {
  return make_state_error(state_errc::capacity_exceeded,
                          "store holds max_items="
                            + std::to_string(budget.max_items()) + " keys");
}

caf::error not_found() {
  return make_state_error(state_errc::not_found, "no value for key");
}

/// version_mismatch when `cond` does not hold for a key whose live version
/// is `live` (0: none).
caf::error condition_problem(const condition& cond, version_t live) {
  if (cond.kind == condition::if_absent && live != 0)
    return make_state_error(state_errc::version_mismatch, "key exists");
  if (cond.kind == condition::if_version
      && (live == 0 || live != cond.version)) // 0 is no version
    return make_state_error(state_errc::version_mismatch,
                            live != 0 ? "version differs"
                                      : "key does not exist");
  return {};
}

/// The smallest string above every string starting with `prefix`, or ""
/// when there is none (a prefix of 0xff bytes).
std::string prefix_end(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = prefix.back();
    if (static_cast<uint8_t>(last) != 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

} // namespace

rocksdb_store::rocksdb_store(std::shared_ptr<rocks::database> db,
                             uint32_t shard,
                             std::shared_ptr<key_budget> budget,
                             version_t first_version, fsync_policy fsync)
  : db_(std::move(db)),
    path_(db_->path()),
    shard_(shard),
    budget_(std::move(budget)),
    fsync_(fsync),
    totals_(db_->totals_at_open(shard)),
    written_totals_(totals_) {
  totals_.last_version = std::max(totals_.last_version, first_version);
}

std::string_view rocksdb_store::backend_name() const {
  return "rocksdb";
}

// -- reads ----------------------------------------------------------------------------

caf::expected<std::optional<rocksdb_store::stored>>
rocksdb_store::peek(const std::string& key) {
  if (!db_)
    return closed();
  rocksdb::PinnableSlice raw;
  auto st = db_->db().Get(rocksdb::ReadOptions{}, db_->shard(shard_), key,
                          &raw);
  if (st.IsNotFound())
    return std::optional<stored>{};
  if (!st.ok())
    return rocks::status_error(st, "reading '" + key + "'");
  auto head = rocks::decode_head(raw.ToStringView());
  if (!head) {
    // A record this version did not write: the key is there, with no
    // version a condition can name and no expiry the sweep could act on.
    // A write or a delete replaces it (reads answer damaged()); refusing
    // those would leave the key unrepairable, and the sweep stuck on it.
    spdlog::warn("rocksdb backend shard {}: the stored value of '{}' is "
                 "damaged; a write or a delete of the key replaces it",
                 shard_, key);
    return std::optional<stored>{stored{0, 0, raw.size()}};
  }
  return std::optional<stored>{*head};
}

caf::expected<entry> rocksdb_store::get(const std::string& key, unix_ms now) {
  if (!db_)
    return closed();
  rocksdb::PinnableSlice raw;
  auto st = db_->db().Get(rocksdb::ReadOptions{}, db_->shard(shard_), key,
                          &raw);
  if (st.IsNotFound())
    return not_found();
  if (!st.ok())
    return rocks::status_error(st, "reading '" + key + "'");
  auto e = rocks::decode_record(raw.ToStringView());
  if (!e)
    return damaged(key);
  if (expired(e->expires_at_ms, now))
    return not_found();
  return std::move(*e);
}

bool rocksdb_store::damaged_for_good(const std::string& key) const {
  if (!db_)
    return false;
  rocksdb::PinnableSlice raw;
  auto st = db_->db().Get(rocksdb::ReadOptions{}, db_->shard(shard_), key,
                          &raw);
  return st.ok() && !rocks::decode_head(raw.ToStringView());
}

caf::expected<key_page> rocksdb_store::list(const list_request& req,
                                            unix_ms now) {
  if (!db_)
    return closed();
  std::string start = req.after < req.prefix ? req.prefix : req.after;
  if (start < rocks::first_user_key)
    start = std::string{rocks::first_user_key};
  auto end = prefix_end(req.prefix);
  rocksdb::Slice upper{end};
  rocksdb::ReadOptions read;
  if (!end.empty())
    read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it{
    db_->db().NewIterator(read, db_->shard(shard_))};
  key_page page;
  for (it->Seek(start); it->Valid(); it->Next()) {
    auto key = it->key().ToStringView();
    if (key == req.after)
      continue;
    if (key.substr(0, req.prefix.size()) != req.prefix)
      break;
    // A damaged record is listed (its key is there; a read says why it
    // cannot be read) rather than failing every page of its prefix.
    auto expires = rocks::record_expiry(it->value().ToStringView());
    if (expires && expired(*expires, now))
      continue;
    if (req.limit != 0 && page.keys.size() == req.limit) {
      page.more = true;
      break;
    }
    page.keys.emplace_back(key);
  }
  if (!it->status().ok())
    return rocks::status_error(it->status(), "listing '" + req.prefix + "'");
  return page;
}

// -- writes ---------------------------------------------------------------------------

version_t rocksdb_store::stage_put(rocksdb::WriteBatch& batch,
                                   const std::string& key,
                                   const std::string& value,
                                   unix_ms expires_at,
                                   const std::optional<stored>& before) {
  auto* cf = db_->shard(shard_);
  auto version = ++totals_.last_version;
  batch.Put(cf, key, rocks::encode_record(value, version, expires_at));
  auto old_expiry = before ? before->expires_at : 0;
  if (old_expiry != expires_at) {
    if (old_expiry != 0)
      batch.Delete(cf, rocks::expiry_key(old_expiry, key));
    if (expires_at != 0) {
      auto index = rocks::expiry_key(expires_at, key);
      if (index < sweep_from_)
        sweep_from_ = index; // the sweep starts at it
      batch.Put(cf, index, rocksdb::Slice{});
    }
  }
  if (before) {
    totals_.bytes -= std::min<uint64_t>(totals_.bytes,
                                        key.size() + before->value_size);
  } else {
    ++totals_.keys;
  }
  totals_.bytes += key.size() + value.size();
  return version;
}

void rocksdb_store::stage_erase(rocksdb::WriteBatch& batch,
                                const std::string& key,
                                const stored& before) {
  auto* cf = db_->shard(shard_);
  batch.Delete(cf, key);
  if (before.expires_at != 0)
    batch.Delete(cf, rocks::expiry_key(before.expires_at, key));
  totals_.keys -= std::min<uint64_t>(totals_.keys, 1);
  totals_.bytes -= std::min<uint64_t>(totals_.bytes,
                                      key.size() + before.value_size);
  ++totals_.last_version; // a deletion is a change with a version too
}

std::optional<std::string> rocksdb_store::reclaim_expired(
  rocksdb::WriteBatch& batch, unix_ms now, std::string& from,
  const std::function<bool(std::string_view)>& spared) {
  // Past their expiry, keys hold budget until the sweep drops them (a
  // sweep_interval later): a full store refused new keys for keys no
  // reader could see any more. Read as the sweep reads, as far as it goes.
  auto bound = rocks::expiry_bound(now);
  rocksdb::Slice upper{bound};
  rocksdb::ReadOptions read;
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it{
    db_->db().NewIterator(read, db_->shard(shard_))};
  size_t seen = 0;
  for (it->Seek(from); it->Valid() && seen < max_sweep_keys;
       it->Next(), ++seen) {
    from.assign(it->key().data(), it->key().size());
    from.push_back('\0'); // the least key after it
    auto parsed = rocks::parse_expiry_key(it->key().ToStringView());
    if (!parsed || spared(parsed->second))
      continue;
    std::string key{parsed->second};
    auto held = peek(key);
    if (!held)
      return std::nullopt;
    // An entry the key no longer has is the sweep's to delete.
    if (!*held || (*held)->expires_at != parsed->first)
      continue;
    stage_erase(batch, key, **held); // removes the index entry too
    budget_->give_back();
    return key;
  }
  return std::nullopt;
}

caf::error rocksdb_store::resume_after_full_disk() {
  if (!last_error_ || code_of(last_error_) != state_errc::insufficient_storage)
    return {};
  auto now = std::chrono::steady_clock::now();
  if (now - last_resume_ < std::chrono::seconds{1})
    return last_error_;
  last_resume_ = now;
  auto st = db_->db().Resume();
  if (!st.ok()) {
    spdlog::debug("rocksdb backend shard {}: not resumed yet: {}", shard_,
                  st.ToString());
    return last_error_; // still full: the first error says why
  }
  spdlog::info("rocksdb backend shard {}: the disk has room again, writes "
               "resume",
               shard_);
  last_error_ = caf::error{};
  return {};
}

caf::error rocksdb_store::write(rocksdb::WriteBatch& batch,
                                const rocks::shard_totals& saved) {
  if (auto err = resume_after_full_disk()) {
    totals_ = saved;
    return err;
  }
  if (auto err = db_->anchor_log_switch()) {
    totals_ = saved;
    last_error_ = err;
    return err;
  }
  batch.Put(db_->shard(shard_), rocks::meta_key, rocks::encode_totals(totals_));
  auto st = db_->db().Write(rocksdb::WriteOptions{}, &batch);
  if (!st.ok()) {
    totals_ = saved;
    last_error_ = rocks::status_error(st, "writing");
    return last_error_;
  }
  pending_ = true;
  written_totals_ = totals_;
  last_error_ = caf::error{};
  return {};
}

// set() and erase() are batches of one: the shard sends batches (pipelines()),
// so every write takes the one path of apply().

caf::expected<write_result> rocksdb_store::set(set_request&& req,
                                               unix_ms expires_at,
                                               unix_ms now) {
  std::vector<pending_op> ops(1);
  ops[0].kind = pending_op::set;
  ops[0].write = std::move(req);
  ops[0].expires_at = expires_at;
  apply(ops, now);
  return std::move(ops[0].written);
}

caf::expected<bool> rocksdb_store::erase(const delete_request& req,
                                         unix_ms now) {
  std::vector<pending_op> ops(1);
  ops[0].kind = pending_op::erase;
  ops[0].removal = req;
  apply(ops, now);
  return std::move(ops[0].erased);
}

void rocksdb_store::apply(std::vector<pending_op>& ops, unix_ms now) {
  // What each key written so far in this batch holds now (nullopt: absent),
  // and the op whose value it holds: later ops on that key see it.
  struct written {
    std::optional<stored> head;
    const pending_op* by = nullptr;
  };
  std::unordered_map<std::string_view, written> batch_view;
  auto before = [&](const std::string& key)
    -> caf::expected<std::optional<stored>> {
    if (auto it = batch_view.find(key); it != batch_view.end())
      return it->second.head;
    return peek(key);
  };
  auto saved = totals_;
  auto noted = expired_by_writes_noted();
  rocksdb::WriteBatch batch;
  std::vector<bool> depends(ops.size(), false); // on this batch's write
  size_t taken = 0, removed = 0;
  // Keys past their expiry this batch removes to make room for new keys:
  // absent for its later ops (batch_view holds views of them).
  std::deque<std::string> reclaimed;
  std::string due_from = sweep_from_;
  auto reclaim = [&] {
    auto key = reclaim_expired(batch, now, due_from, [&](std::string_view k) {
      return batch_view.count(k) != 0; // written by this batch
    });
    if (!key)
      return false;
    note_expired_by_write(*key); // forgotten below if the batch fails
    reclaimed.push_back(std::move(*key));
    batch_view[reclaimed.back()] = written{};
    return true;
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    auto& key = op.target();
    auto seen = batch_view.find(key);
    depends[i] = seen != batch_view.end();
    if (op.kind == pending_op::get) {
      if (!depends[i]) {
        op.got = get(key, now);
      } else if (!seen->second.head
                 || expired(seen->second.head->expires_at, now)) {
        op.got = not_found();
      } else {
        auto& h = *seen->second.head;
        op.got = entry{seen->second.by->write.value, h.version, h.expires_at};
      }
      continue;
    }
    auto held = before(key);
    if (!held) {
      op.fail(held.error());
      continue;
    }
    bool live = *held && !expired((*held)->expires_at, now);
    auto& cond = op.kind == pending_op::set ? op.write.cond : op.removal.cond;
    if (auto err = condition_problem(cond, live ? (*held)->version : 0)) {
      op.fail(err);
      continue;
    }
    if (*held && !live)
      note_expired_by_write(key); // forgotten below if the batch fails
    if (op.kind == pending_op::set) {
      bool room = *held || budget_->try_take();
      while (!room && reclaim())
        room = budget_->try_take();
      if (!room) {
        // Any key reclaimed for it (the store past max_items, or another
        // shard took the room) stays removed: it expired, and the batch
        // writes its removal as the sweep would have.
        op.fail(capacity_problem(*budget_));
        continue;
      }
      taken += !*held;
      auto version = stage_put(batch, key, op.write.value, op.expires_at,
                               *held);
      op.written = write_result{version, !live};
      batch_view[key] = written{
        stored{version, op.expires_at, op.write.value.size()}, &op};
    } else {
      op.erased = live;
      if (*held) {
        stage_erase(batch, key, **held);
        ++removed;
        batch_view[key] = written{};
      }
    }
    depends[i] = true;
  }
  if (batch.Count() == 0)
    return;
  if (auto err = write(batch, saved)) {
    forget_expired_by_writes_after(noted);
    budget_->give_back(taken);
    budget_->take(reclaimed.size()); // they are still there
    for (size_t i = 0; i < ops.size(); ++i)
      if (depends[i])
        ops[i].fail(err);
    return;
  }
  budget_->give_back(removed);
}

caf::error rocksdb_store::transact(std::vector<pending_op>& ops,
                                   unix_ms now) {
  // What each key holds, expired or not, and the budget for new keys, before
  // anything is staged: a refusal changes nothing. The keys of a
  // transaction are distinct, so each key it removes makes room for one it
  // creates: only the keys it adds net need room. Conditions are judged by
  // each record's head, as apply() judges a single write's: no value is
  // decoded or copied (a transaction over 16 MiB values copied each one).
  std::vector<std::optional<stored>> before;
  size_t created = 0, held_removed = 0;
  for (auto& op : ops) {
    auto held = peek(op.target());
    if (!held)
      return std::move(held.error());
    bool live = *held && !expired((*held)->expires_at, now);
    auto& cond = op.kind == pending_op::set ? op.write.cond : op.removal.cond;
    entry head{{}, live ? (*held)->version : 0, 0};
    if (auto err = transaction_condition_problem(op.target(), cond, head))
      return err;
    if (op.kind == pending_op::set && !*held)
      ++created;
    else if (op.kind == pending_op::erase && *held)
      ++held_removed;
    before.push_back(*held);
  }
  size_t new_keys = created > held_removed ? created - held_removed : 0;
  size_t freed = held_removed > created ? held_removed - created : 0;
  auto saved = totals_;
  rocksdb::WriteBatch batch;
  // Keys past their expiry removed to make room, never the transaction's
  // own: each is owed an expire event once the batch is written.
  std::vector<std::string> reclaimed;
  std::unordered_set<std::string_view> spared;
  std::string due_from = sweep_from_;
  for (size_t taken = 0; taken < new_keys; ++taken) {
    if (budget_->try_take())
      continue;
    if (spared.empty())
      for (auto& op : ops)
        spared.insert(op.target());
    bool room = false;
    while (!room) {
      auto key = reclaim_expired(batch, now, due_from,
                                 [&](std::string_view k) {
                                   return spared.count(k) != 0;
                                 });
      if (!key)
        break;
      reclaimed.push_back(std::move(*key));
      room = budget_->try_take();
    }
    if (!room) {
      // Nothing is written: the reclaimed keys stay for the sweep.
      budget_->give_back(taken);
      budget_->take(reclaimed.size());
      totals_ = saved;
      return capacity_problem(*budget_);
    }
  }
  std::vector<version_t> versions(ops.size(), 0);
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    if (op.kind == pending_op::set)
      versions[i] = stage_put(batch, op.write.key, op.write.value,
                              op.expires_at, before[i]);
    else if (before[i])
      stage_erase(batch, op.removal.key, *before[i]);
  }
  // One batch: the log holds all of the transaction or none of it.
  if (auto err = write(batch, saved)) {
    budget_->give_back(new_keys);
    budget_->take(reclaimed.size()); // they are still there
    return err;
  }
  budget_->give_back(freed);
  for (auto& key : reclaimed)
    note_expired_by_write(key);
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    bool live = before[i] && !expired(before[i]->expires_at, now);
    if (before[i] && !live)
      note_expired_by_write(op.target()); // held, past its expiry
    if (op.kind == pending_op::set)
      op.written = write_result{versions[i], !live};
    else
      op.erased = live;
  }
  return {};
}

size_t rocksdb_store::sweep(unix_ms now, std::vector<std::string>* expired) {
  if (!db_)
    return 0;
  auto* cf = db_->shard(shard_);
  auto bound = rocks::expiry_bound(now);
  rocksdb::Slice upper{bound};
  rocksdb::ReadOptions read;
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it{db_->db().NewIterator(read, cf)};
  auto saved = totals_;
  rocksdb::WriteBatch batch;
  std::vector<std::string> dropped;
  size_t seen = 0;
  // Past the entries earlier sweeps deleted: their tombstones stay until a
  // compaction drops them, and an iterator steps over each one, so a sweep
  // from the first index key would cross every entry swept before it (10
  // million after a mass expiry, quadratic over its steps).
  std::string resume;
  for (it->Seek(sweep_from_); it->Valid() && seen < max_sweep_keys;
       it->Next(), ++seen) {
    auto parsed = rocks::parse_expiry_key(it->key().ToStringView());
    if (parsed) {
      auto [at, key_view] = *parsed;
      std::string key{key_view};
      auto held = peek(key);
      if (!held)
        break; // read again at the next sweep
      if (*held && (*held)->expires_at == at) {
        stage_erase(batch, key, **held); // removes the index entry too
        dropped.push_back(std::move(key));
      } else {
        batch.Delete(cf, it->key()); // an entry the key no longer has
      }
    }
    resume.assign(it->key().data(), it->key().size());
    resume.push_back('\0'); // the least key after it
  }
  report_sweep_reading(it->status());
  if (batch.Count() == 0)
    return 0;
  if (auto err = write(batch, saved)) {
    spdlog::warn("rocksdb backend shard {}: sweep: {}", shard_,
                 message_of(err));
    return 0;
  }
  if (!resume.empty() && resume > sweep_from_)
    sweep_from_ = std::move(resume);
  budget_->give_back(dropped.size());
  auto n = dropped.size();
  if (expired)
    for (auto& key : dropped)
      expired->push_back(std::move(key));
  return n;
}

void rocksdb_store::report_sweep_reading(const rocksdb::Status& status) {
  // Once per change: a sweep runs every second.
  if (status.ok() == sweep_reads_)
    return;
  sweep_reads_ = status.ok();
  if (!sweep_reads_)
    spdlog::warn("rocksdb backend shard {}: the sweep cannot read the expiry "
                 "index past a point ({}); keys expiring after it stay until "
                 "read or rewritten",
                 shard_, status.ToString());
  else
    spdlog::info("rocksdb backend shard {}: the sweep reads the expiry index "
                 "again",
                 shard_);
}

// -- durability -----------------------------------------------------------------------

bool rocksdb_store::has_pending_commit() const {
  return pending_ && fsync_ == fsync_policy::always;
}

caf::error rocksdb_store::sync_timed() {
  auto started = std::chrono::steady_clock::now();
  auto err = db_->sync_log();
  std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                       - started;
  unsynced_ = static_cast<bool>(err);
  if (err) {
    last_error_ = err;
    return err;
  }
  sync_buckets_.resize(bucket_count);
  auto bucket = std::lower_bound(duration_bounds.begin(),
                                 duration_bounds.end(), took.count());
  ++sync_buckets_[static_cast<size_t>(bucket - duration_bounds.begin())];
  sync_seconds_ += took.count();
  last_error_ = caf::error{};
  return {};
}

caf::error rocksdb_store::commit() {
  if (!pending_)
    return {};
  if (fsync_ != fsync_policy::always)
    return {};
  // The writes are in the log and the memtable already; a failed sync means
  // they may not survive a power cut, so their writers hear the error.
  // Reads go on; the writes stay unsynced until a later sync succeeds.
  pending_ = false;
  return sync_timed();
}

caf::error rocksdb_store::checkpoint() {
  if (fsync_ != fsync_policy::interval || (!pending_ && !unsynced_))
    return {};
  // A failed sync is tried again at the next tick, writes or not.
  pending_ = false;
  return sync_timed();
}

caf::error rocksdb_store::close() {
  if (closed_)
    return {};
  closed_ = true;
  // Under interval and never the log holds acknowledged writes no sync
  // covered yet, and after a failed sync under any policy writes no sync
  // covered: a clean stop syncs them, and when it cannot, says so (and no
  // snapshot is kept).
  auto err = pending_ || unsynced_ ? sync_timed() : caf::error{};
  pending_ = false;
  if (err)
    spdlog::error("rocksdb backend shard {}: close: {}", shard_,
                  message_of(err));
  db_.reset(); // the last shard to close closes the database
  return err;
}

caf::error rocksdb_store::keep_snapshot(std::string bytes) {
  rocks::bind_snapshot(bytes, written_totals_); // as close() left the data
  return rocks::write_snapshot_file(path_, rocks::snapshot_file_name(shard_),
                                    bytes);
}

caf::expected<std::optional<std::string>> rocksdb_store::take_snapshot() {
  if (!db_)
    return std::optional<std::string>{};
  return db_->take_snapshot(shard_);
}

caf::error rocksdb_store::health_check() {
  // Ready again once the disk has room, without waiting for a client write.
  if (auto err = resume_after_full_disk())
    return err;
  return last_error_;
}

store_stats rocksdb_store::stats() const {
  store_stats out;
  out.keys = totals_.keys;
  out.bytes = totals_.bytes;
  out.log_syncs.buckets = sync_buckets_;
  out.log_syncs.buckets.resize(bucket_count);
  out.log_syncs.seconds = sync_seconds_;
  if (db_)
    out.compaction = db_->read_compaction(shard_);
  return out;
}

} // namespace solver_state
