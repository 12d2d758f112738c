#pragma once

// A batch read as of one moment, for backends that other connections write
// to. A shard reads a batch-get of a network backend in round trips of a few
// keys, so that large values never sit in memory whole; but on a shared
// Redis or PostgreSQL another connection (another service, or this one's
// shard that owns a transaction's first key) can apply a transaction
// between two round trips, and the reply would hold some of its writes
// without the others. A backend that can read a budget's worth of keys in
// one request the engine runs as a unit (a Lua script, one SELECT) offers
// it here; the shard then needs no second round trip.

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "messages/values.hpp"

namespace solver_state {

class state_store;

class atomic_batch_read {
public:
  /// The first keys of `keys`, in order, as of one moment, until their
  /// stored values pass `byte_budget` (the first key is always read):
  /// entries as batch_get gives them (version 0: absent or expired), as
  /// many as keys were read. A value that cannot be read fails the batch,
  /// as batch_get does.
  virtual caf::expected<std::vector<entry>>
  batch_get_within(const std::vector<std::string>& keys, unix_ms now,
                   size_t byte_budget)
    = 0;

protected:
  ~atomic_batch_read() = default;
};

/// `store`'s atomic batch read, through its codec layer if it has one;
/// nullptr when its backend has none.
atomic_batch_read* atomic_reader_of(state_store& store);

} // namespace solver_state
