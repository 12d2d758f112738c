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
};

/// Reads the live entry of every op's key and checks its condition: the
/// entries, or the first failure (version_mismatch naming the key, or the
/// read's error).
caf::expected<std::vector<prior_entry>>
check_transaction(state_store& store, const std::vector<pending_op>& ops,
                  unix_ms now);

/// Puts back the entries of `prior` (the last one first), unconditionally.
/// A restored key gets a new version; no reader saw the one in between.
void put_back(state_store& store, std::vector<prior_entry>& prior,
              unix_ms now);

} // namespace solver_state
