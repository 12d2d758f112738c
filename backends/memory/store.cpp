// The in-memory backend store: hash map for reads, ordered index for
// listing, expiry index for the TTL sweep, LRU list for eviction: lru.

#include "backends/memory/store.hpp"

#include <algorithm>
#include <utility>

namespace solver_state {

memory_store::memory_store(std::shared_ptr<key_budget> budget,
                           eviction_policy eviction, version_t first_version)
  : budget_(std::move(budget)),
    eviction_(eviction),
    last_version_(first_version) {
}

std::string_view memory_store::backend_name() const {
  return "memory";
}

memory_store::slot* memory_store::find_live(const std::string& key,
                                            unix_ms now) {
  auto it = slots_.find(key);
  if (it == slots_.end() || expired(it->second.data, now))
    return nullptr;
  return &it->second;
}

void memory_store::touch(slot& s) {
  if (eviction_ == eviction_policy::lru)
    lru_.splice(lru_.begin(), lru_, s.lru_pos);
}

caf::expected<entry> memory_store::get(const std::string& key, unix_ms now) {
  auto s = find_live(key, now);
  if (!s)
    return make_state_error(state_errc::not_found, "no value for key");
  touch(*s);
  return s->data;
}

caf::expected<std::vector<entry>>
memory_store::batch_get(const std::vector<std::string>& keys, unix_ms now) {
  std::vector<entry> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    if (auto s = find_live(keys[i], now)) {
      touch(*s);
      out[i] = s->data;
    }
  return out;
}

caf::error memory_store::admit_new_key(unix_ms now) {
  if (reuse_released_key() || budget_->try_take())
    return {};
  // Keys past their expiry hold budget until the sweep drops them (a
  // sweep_interval later): they go first. Else a full store evicted a live
  // key (lru) or refused the write (reject) while it held expired ones.
  // One reclaimed while a transaction is applied keeps its room for it.
  while (reclaim_expired(now))
    if (reuse_released_key() || budget_->try_take())
      return {};
  if (eviction_ == eviction_policy::lru) {
    // Evict this shard's least recently used key and reuse its budget
    // (remove() gives it back). A shard with no key of its own admits anyway:
    // the store then runs over max_items by at most shards-1 keys (and a
    // transaction's new keys), which beats refusing writes under a policy
    // that promises never to refuse.
    if (auto victim = eviction_victim(); victim != slots_.end()) {
      // An eviction is no event, but a key past its expiry expired first;
      // a live one is named for the indexes, which must forget it.
      if (expired(victim->second.data, now))
        note_expired_by_write(victim->first);
      else
        note_evicted(victim->first);
      remove(victim);
    }
    if (!reuse_released_key())
      budget_->take();
    return {};
  }
  return make_state_error(state_errc::capacity_exceeded,
                          "store holds max_items="
                            + std::to_string(budget_->max_items()) + " keys");
}

bool memory_store::reclaim_expired(unix_ms now) {
  for (auto& [at, key] : expiries_) {
    if (at > now)
      return false;
    // One the transaction wrote a moment before stays: it answered it as
    // written (as eviction_victim spares them).
    if (transaction_keys_.count(key) != 0)
      continue;
    auto it = slots_.find(std::string{key});
    note_expired_by_write(it->first);
    remove(it);
    return true;
  }
  return false;
}

void memory_store::release_key() {
  if (in_transaction_)
    ++released_in_transaction_;
  else
    budget_->give_back();
}

bool memory_store::reuse_released_key() {
  if (released_in_transaction_ == 0)
    return false;
  --released_in_transaction_;
  return true;
}

memory_store::slot_map::iterator memory_store::eviction_victim() {
  auto in_transaction = [this](std::string_view key) {
    return transaction_keys_.count(key) != 0;
  };
  // A transaction's keys are the most recently used (each write moved its
  // key to the front), so this skips at most as many keys as it has ops.
  for (auto it = lru_.rbegin(); it != lru_.rend(); ++it)
    if (!in_transaction(*it))
      return slots_.find(std::string{*it});
  return slots_.end();
}

caf::error memory_store::transact(std::vector<pending_op>& ops,
                                  unix_ms now) {
  // Under lru a key the transaction creates could evict one it wrote a
  // moment before, on a shard holding few keys of its own: the transaction
  // answered as applied with a key already gone.
  transaction_keys_.clear();
  for (auto& op : ops)
    transaction_keys_.insert(op.target()); // the ops outlive the call
  // The default applies the deletes first: the room they free goes to the
  // keys the transaction creates, and to the deleted keys again when it is
  // put back.
  in_transaction_ = true;
  auto err = state_store::transact(ops, now);
  in_transaction_ = false;
  budget_->give_back(std::exchange(released_in_transaction_, 0));
  transaction_keys_.clear();
  return err;
}

caf::expected<write_result> memory_store::set(set_request&& req,
                                              unix_ms expires_at, unix_ms now) {
  auto it = slots_.find(req.key);
  bool live = it != slots_.end() && !expired(it->second.data, now);
  if (req.cond.kind == condition::if_absent && live)
    return make_state_error(state_errc::version_mismatch, "key exists");
  if (req.cond.kind == condition::if_version
      && (!live || it->second.data.version != req.cond.version))
    return make_state_error(state_errc::version_mismatch,
                            live ? "version differs" : "key does not exist");
  if (it != slots_.end() && !live)
    note_expired_by_write(it->first);
  if (it == slots_.end()) {
    if (auto err = admit_new_key(now))
      return err;
    it = slots_.emplace(std::move(req.key), slot{}).first;
    std::string_view key = it->first;
    ordered_.emplace(key, &it->second);
    if (eviction_ == eviction_policy::lru)
      it->second.lru_pos = lru_.insert(lru_.begin(), key);
    bytes_ += key.size();
  } else {
    touch(it->second);
  }
  auto& data = it->second.data;
  set_expiry(it->first, data.expires_at_ms, expires_at);
  bytes_ += req.value.size();
  bytes_ -= data.value.size();
  data.value = std::move(req.value);
  data.version = ++last_version_;
  data.expires_at_ms = expires_at;
  return write_result{data.version, !live};
}

void memory_store::set_expiry(std::string_view key, unix_ms old_at,
                              unix_ms new_at) {
  if (old_at == new_at)
    return;
  if (old_at != 0)
    expiries_.erase({old_at, key});
  if (new_at != 0)
    expiries_.insert({new_at, key});
}

void memory_store::remove(slot_map::iterator it) {
  std::string_view key = it->first;
  auto& data = it->second.data;
  set_expiry(key, data.expires_at_ms, 0);
  ordered_.erase(key);
  if (eviction_ == eviction_policy::lru)
    lru_.erase(it->second.lru_pos);
  bytes_ -= key.size() + data.value.size();
  slots_.erase(it);
  release_key();
}

caf::expected<bool> memory_store::erase(const delete_request& req,
                                        unix_ms now) {
  auto it = slots_.find(req.key);
  bool live = it != slots_.end() && !expired(it->second.data, now);
  if (req.cond.kind == condition::if_version
      && (!live || it->second.data.version != req.cond.version))
    return make_state_error(state_errc::version_mismatch,
                            live ? "version differs" : "key does not exist");
  if (req.cond.kind == condition::if_absent && live)
    return make_state_error(state_errc::version_mismatch, "key exists");
  if (it == slots_.end())
    return false;
  if (!live)
    note_expired_by_write(it->first);
  remove(it);
  return live;
}

caf::expected<key_page> memory_store::list(const list_request& req,
                                           unix_ms now) {
  key_page page;
  auto it = req.after < req.prefix ? ordered_.lower_bound(req.prefix)
                                   : ordered_.upper_bound(req.after);
  for (; it != ordered_.end(); ++it) {
    auto [key, s] = *it;
    if (key.substr(0, req.prefix.size()) != req.prefix)
      break;
    if (expired(s->data, now))
      continue;
    if (req.limit != 0 && page.keys.size() == req.limit) {
      page.more = true;
      break;
    }
    page.keys.emplace_back(key);
  }
  return page;
}

size_t memory_store::sweep(unix_ms now, std::vector<std::string>* expired) {
  size_t dropped = 0;
  while (!expiries_.empty() && expiries_.begin()->first <= now
         && dropped < max_sweep_keys) {
    auto key = expiries_.begin()->second;
    if (expired)
      expired->emplace_back(key);
    remove(slots_.find(std::string{key}));
    ++dropped;
  }
  return dropped;
}

store_stats memory_store::stats() const {
  store_stats out;
  out.keys = slots_.size();
  out.bytes = bytes_;
  return out;
}

} // namespace solver_state
