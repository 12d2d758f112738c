#pragma once

// The watch hub's history: the latest committed changes of every shard,
// numbered in one sequence, bounded by a count and by bytes. Changes are
// kept in sealed chunks of up to max_chunk_events, each one immutable CAF
// message (a change_batch): a watcher of every change in a chunk is sent
// that very message, so a hundred watchers cost a hundred sends, not a
// hundred copies. Watchers are positions in the history (the next sequence
// number each has still to get): a slow watcher costs one number, and one
// whose position falls out of the history has missed changes.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>
#include <vector>

#include <caf/message.hpp>

#include "messages/watch.hpp"

namespace solver_state {

/// Bytes a change holds in the history: its key, its value and its frame.
size_t footprint(const change_event& ev);

/// True when `ev` is a change under `prefix`.
inline bool under(const change_event& ev, std::string_view prefix) {
  return std::string_view{ev.key}.substr(0, prefix.size()) == prefix;
}

/// Changes in one sealed chunk at most: one watcher's batch.
constexpr size_t max_chunk_events = 512;
/// A chunk is sealed once its changes reach this many bytes.
constexpr size_t max_chunk_bytes = 1u << 20;

/// Consecutive changes, sealed into one message.
struct change_chunk {
  uint64_t first = 0; // sequence number of its first change
  uint64_t last = 0;  // ... and of its last
  size_t bytes = 0;
  caf::message msg; // holds a change_batch

  const change_batch& batch() const { return msg.get_as<change_batch>(0); }
};

class change_history {
public:
  change_history(uint64_t stream, size_t max_events, size_t max_bytes);

  uint64_t stream() const { return stream_; }

  /// The number of the newest change; 0 before the first.
  uint64_t last() const { return last_; }

  /// The number of the oldest change held; last() + 1 when none is.
  uint64_t first() const;

  /// The number of the newest change in a sealed chunk.
  uint64_t last_sealed() const {
    return chunks_.empty() ? first() - 1 : chunks_.back().last;
  }

  size_t size() const { return events_; }
  size_t bytes() const { return bytes_; }

  /// Numbers `ev` (the next sequence number) and appends it to the open
  /// chunk, sealing that chunk when it is full.
  void append(change_event&& ev);

  /// Seals the open chunk, if it holds any change: what it holds can go to
  /// watchers.
  void seal();

  /// Seals the open chunk and takes a number no change gets: the mark of a
  /// gap upstream (a resync). Positions before it are from before the gap;
  /// a stream that starts after it says so by its position, so that a
  /// reconnect from there is not taken for one from before the gap.
  void skip();

  /// Drops the oldest chunks while the history is over its bounds, calling
  /// `dropped(ev)` for each change before it goes.
  void trim(const std::function<void(const change_event&)>& dropped);

  /// The sealed chunk that holds position `seq` (or, for a number skip()
  /// took, the next chunk); null when `seq` is before the history or after
  /// its last sealed change.
  const change_chunk* chunk_of(uint64_t seq) const;

private:
  uint64_t stream_;
  size_t max_events_;
  size_t max_bytes_;
  std::deque<change_chunk> chunks_;
  std::vector<change_event> open_;
  size_t open_bytes_ = 0;
  size_t events_ = 0;
  size_t bytes_ = 0;
  uint64_t last_ = 0;
};

} // namespace solver_state
