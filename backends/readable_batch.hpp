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
  /// Why the first of them could not be read.
  caf::error first_problem;
};

/// True for an error that one value can cause while the backend works
/// (backend_error, io_error); false for one that says the backend cannot
/// answer at all (backend_unavailable, a timeout), where reading the next
/// key would fail the same way.
bool is_value_problem(const caf::error& err);

/// The entries for `keys`: one batch_get, and when that fails for a value
/// problem, one get per key. Fails only as the backend does (unavailable,
/// out of time): then nothing is known and the caller tries again later.
caf::expected<readable_batch>
read_readable(state_store& store, const std::vector<std::string>& keys,
              unix_ms now);

/// The first keys of `keys`, read as read_readable() reads, in batches
/// sized by the values seen so far (the first batch is one key), until
/// `byte_budget` of values are read: a walk over values of any size (a
/// build of the indexes, a rotation) holds at most that much, plus one
/// value, at a time, and stalls the shard no longer. At least one key is
/// read; the keys read are the first entries.size().
caf::expected<readable_batch>
read_readable_within(state_store& store, const std::vector<std::string>& keys,
                     unix_ms now, size_t byte_budget);

} // namespace solver_state
