#pragma once

// Which keys a member node has made its own during a handoff, and which it
// is taking over right now. A node that gains keys after a membership change
// serves such a key only once it has claimed it: fetched any copy another
// node still holds, kept it (or its own), and had the other copies dropped.
// Requests for a key whose claim is running wait for it, so a key is never
// served from two places, and a claimed key is remembered so the next
// request goes straight to the store. Forgetting a claimed key (past
// `max_remembered`) only costs another claim, which finds nothing left to
// move: the table is a cache, the protocol does not depend on it.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/error.hpp>

namespace solver_state {

/// Runs once every key a request waits for is settled: with the first
/// error, or an empty one when all of them are claimed.
using claim_done = std::function<void(const caf::error&)>;

class claim_table {
public:
  explicit claim_table(size_t max_remembered = 1'000'000)
    : max_remembered_(max_remembered) {}

  /// A request needs `keys`: those already claimed are skipped, those
  /// being claimed get `done` as a waiter, and the others are marked as
  /// being claimed and returned (each once): the caller claims them and
  /// settles each. `done` runs once all of `keys` are settled, at once
  /// when none needs waiting for.
  std::vector<std::string> wait_for(const std::vector<std::string>& keys,
                                    claim_done done);

  /// `key`'s claim ended: remembered as claimed when `err` is empty; every
  /// request waiting for it hears `err` (its first error wins).
  void settle(const std::string& key, const caf::error& err);

  bool claimed(std::string_view key) const;
  size_t claiming() const { return claiming_.size(); }
  size_t remembered() const { return claimed_.size(); }

  /// The handoff is over: every key is the node's own again.
  void forget_claimed() { claimed_.clear(); }

private:
  struct waiter {
    size_t pending = 0;
    caf::error first_error;
    claim_done done;
  };

  std::unordered_map<std::string, std::vector<std::shared_ptr<waiter>>>
    claiming_;
  std::unordered_set<std::string> claimed_;
  size_t max_remembered_;
};

} // namespace solver_state
