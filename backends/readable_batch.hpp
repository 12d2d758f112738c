#pragma once

// A batch read that one unreadable value does not fail. A backend's
// batch_get fails as a whole when any value in it cannot be read (a damaged
// file, a value sealed under a key that is not configured, a failed disk
// read): right for a client, who is told which key, but a shard's own walks
// over its keys (building the indexes, confirming a query page, re-encrypting
// under a new key) must go on past such a value, or they stop at it for good.

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "backends/state_store.hpp"
#include "messages/values.hpp"

namespace solver_state {

struct readable_batch {
  /// One entry per key asked, in order; version 0 for absent keys and for
  /// the unreadable ones.
  std::vector<entry> entries;
  /// Positions (into the keys asked) of the values that could not be read.
  std::vector<size_t> unreadable;
  /// Why each of them could not be read, in the same order.
  std::vector<std::string> reasons;
  /// Why the first of them could not be read.
  caf::error first_problem;
};

/// The entries for `keys`: one batch_get, and when that fails for one value
/// (is_value_error: altered, damaged, sealed under a key not configured),
/// one get per key. Fails as the backend does (unavailable, out of time, a
/// refused request): then nothing is known and the caller tries again
/// later.
caf::expected<readable_batch>
read_readable(state_store& store, const std::vector<std::string>& keys,
              unix_ms now);

/// The first keys of `keys`, read as read_readable() reads, until
/// `byte_budget` of values are read, in batches that grow at most fourfold
/// and are sized by the largest value seen so far: a walk over values of
/// any size (a build of the indexes, a rotation, a query page) holds about
/// that much at a time, more only when a batch meets values far larger
/// than every one before it. At least one key is read; the keys read are
/// the first entries.size() from `from` on (entries and unreadable count
/// from `from`).
///
/// The first batch is one key, unless `largest_seen` says what the walk's
/// previous call met (its largest value; 0: nothing yet): then as many keys
/// as fit at that size, at most 64. A walk that keeps it between its calls
/// reads a step of 512 small values in three batches (round trips on a
/// network backend) instead of six, a page of 100 in two instead of five.
/// On return it holds this call's largest value.
caf::expected<readable_batch>
read_readable_within(state_store& store, const std::vector<std::string>& keys,
                     unix_ms now, size_t byte_budget, size_t from = 0,
                     size_t* largest_seen = nullptr);

} // namespace solver_state
