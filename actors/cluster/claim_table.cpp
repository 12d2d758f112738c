// The claim table: keys being taken over wait for their claim; claimed keys
// are remembered (boundedly).

#include "actors/cluster/claim_table.hpp"

namespace solver_state {

std::vector<std::string>
claim_table::wait_for(const std::vector<std::string>& keys, claim_done done) {
  auto w = std::make_shared<waiter>();
  w->done = std::move(done);
  // Counts one extra until every key is registered, so a waiter whose keys
  // settle while this loop runs cannot finish early.
  w->pending = 1;
  std::vector<std::string> to_claim;
  for (auto& key : keys) {
    if (claimed_.count(key) != 0)
      continue;
    auto [it, fresh] = claiming_.try_emplace(key);
    if (fresh)
      to_claim.push_back(key);
    it->second.push_back(w);
    ++w->pending;
  }
  if (--w->pending == 0)
    w->done(caf::error{});
  return to_claim;
}

void claim_table::settle(const std::string& key, const caf::error& err) {
  auto it = claiming_.find(key);
  if (it == claiming_.end())
    return;
  auto waiters = std::move(it->second);
  claiming_.erase(it);
  if (!err && claimed_.size() < max_remembered_)
    claimed_.insert(key);
  for (auto& w : waiters) {
    if (err && !w->first_error)
      w->first_error = err;
    if (--w->pending == 0)
      w->done(w->first_error);
  }
}

bool claim_table::claimed(std::string_view key) const {
  return claimed_.count(std::string{key}) != 0;
}

} // namespace solver_state
