#pragma once

// The built-in in-memory backend (the seed's InMemoryState): a hash map for
// point reads, an ordered index for list(prefix), an expiry index for the TTL
// sweep, and an LRU list when eviction is lru.

#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <unordered_map>
#include <utility>

#include "backends/key_budget.hpp"
#include "backends/state_store.hpp"
#include "config/config.hpp"

namespace solver_state {

class memory_store final : public state_store {
public:
  /// `budget` is shared by all shards of one store. Versions start after
  /// `first_version`, so a restart (seeded from the clock) never reuses one.
  memory_store(std::shared_ptr<key_budget> budget, eviction_policy eviction,
               version_t first_version);

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  caf::error transact(std::vector<pending_op>& ops, unix_ms now) override;
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now) override;
  size_t sweep(unix_ms now,
               std::vector<std::string>* expired = nullptr) override;
  bool reports_expiries() const override { return true; }
  bool only_frees_after_close() const override { return true; }
  store_stats stats() const override;

  /// Number of keys held, expired ones included until swept.
  size_t size() const { return slots_.size(); }

private:
  struct slot {
    entry data;
    std::list<std::string_view>::iterator lru_pos;
  };

  using slot_map = std::unordered_map<std::string, slot>;

  static bool expired(const entry& e, unix_ms now) {
    return e.expires_at_ms != 0 && e.expires_at_ms <= now;
  }

  /// The slot of a live key, or nullptr.
  slot* find_live(const std::string& key, unix_ms now);

  /// Makes room for one new key: reuses the room of a key the transaction
  /// being applied removed, takes budget, or reclaims a key past its
  /// expiry, or evicts the LRU key.
  caf::error admit_new_key(unix_ms now);
  /// Drops the soonest key due at `now` that the sweep has not reached yet
  /// (not one of the transaction being applied), as a write that meets it
  /// does: an expire event. False when none is due.
  bool reclaim_expired(unix_ms now);
  /// Gives a removed key's room back to the budget, or, while a
  /// transaction is applied, keeps it for the keys that transaction creates.
  void release_key();
  /// Takes the room of a key the transaction being applied removed; false
  /// when there is none.
  bool reuse_released_key();
  /// The least recently used key an admission may evict: not one of the
  /// transaction being applied (end() when there is none).
  slot_map::iterator eviction_victim();

  void touch(slot& s);
  void remove(slot_map::iterator it);
  void set_expiry(std::string_view key, unix_ms old_at, unix_ms new_at);

  std::shared_ptr<key_budget> budget_;
  eviction_policy eviction_;
  version_t last_version_;
  slot_map slots_;
  // Views into slots_' keys and values: unordered_map nodes never move.
  std::map<std::string_view, const slot*> ordered_;
  std::set<std::pair<unix_ms, std::string_view>> expiries_;
  std::list<std::string_view> lru_; // front = most recently used
  /// The ops of the transaction being applied, whose keys are never
  /// evicted for one another.
  /// The keys of the transaction being applied (a set: an eviction asks
  /// of each candidate whether it is one, for each key the transaction
  /// creates, and a thousand ops asked one by one cost a second).
  std::unordered_set<std::string_view> transaction_keys_;
  /// While a transaction is applied, the room of the keys it removed, kept
  /// for the keys it creates and given back to the budget at its end: the
  /// shards share the budget, and another one could otherwise take that
  /// room in between, refusing a transaction that adds no key net, or a
  /// put-back of the keys it removed.
  bool in_transaction_ = false;
  size_t released_in_transaction_ = 0;
  uint64_t bytes_ = 0;
};

} // namespace solver_state
