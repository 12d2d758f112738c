#pragma once

// The two halves of a transaction every backend that validates by reading
// shares (the default state_store::transact, the shard's part of a
// coordinated transaction): check each op's condition against the key's
// live entry, keeping what it held; put that back when the transaction is
// given up after some ops were applied.

#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/state_store.hpp"
#include "messages/values.hpp"

namespace solver_state {

/// Empty when `cond` holds for `key` whose live entry is `current` (version
/// 0: absent); otherwise version_mismatch naming the key.
caf::error transaction_condition_problem(const std::string& key,
                                         const condition& cond,
                                         const entry& current);

/// A key and its live entry before a transaction changed it (version 0:
/// absent).
struct prior_entry {
  std::string key;
  entry before;
  /// The key held a value that could not be read (damaged, sealed under a
  /// key not configured): `before` says found, at a version no read gives,
  /// with no value, so it cannot be put back.
  bool unreadable = false;
};

/// Reads the live entry of every op's key and checks its condition: the
/// entries, or the first failure (version_mismatch naming the key, or the
/// read's error). A value that cannot be read fails only an op with a
/// condition: one without replaces or deletes it, as a single write does
/// (the way an operator repairs such a key), and its prior entry is
/// `unreadable`.
caf::expected<std::vector<prior_entry>>
check_transaction(state_store& store, const std::vector<pending_op>& ops,
                  unix_ms now);

/// Puts back the entries of `prior`, unconditionally: first the removals
/// of keys the transaction created (they give back room a restore may
/// need), then the restores. A restored key gets a new version; no reader
/// saw the one in between. Every key is tried; the first failure is
/// returned as partly_applied(): the keys it names still hold what the
/// transaction wrote. An unreadable prior entry is such a failure: its old
/// bytes are not known here.
caf::error put_back(state_store& store, std::vector<prior_entry>& prior,
                    unix_ms now);

/// backend_error for a transaction applied in part that could not be put
/// back whole (`why`: what failed). The client must hear it over any other
/// failure of the same transaction: some of its keys hold the values it
/// wrote.
caf::error partly_applied(const std::string& why);

/// True for an error made by partly_applied.
bool is_partly_applied(const caf::error& err);

/// version_mismatch for a part of a transaction over several shards that
/// was put back (or never applied) because another part failed: what that
/// other part failed with is the client's answer, not this.
caf::error given_up_for_another_part();

/// True for an error made by given_up_for_another_part.
bool is_given_up_for_another_part(const caf::error& err);

} // namespace solver_state
