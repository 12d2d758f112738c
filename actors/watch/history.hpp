#pragma once

// The watch hub's history: the latest committed changes of every shard,
// numbered in one sequence, bounded by a count and by bytes. Watchers are
// positions in it (the next sequence number each one still has to get), so
// a slow watcher costs one number, not a queue of its own; a watcher whose
// position falls out of the history has missed changes and must resync.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string_view>
#include <vector>

#include "messages/watch.hpp"

namespace solver_state {

/// Bytes a change holds in the history: its key, its value and its frame.
size_t footprint(const change_event& ev);

/// True when `ev` is a change under `prefix`.
inline bool under(const change_event& ev, std::string_view prefix) {
  return std::string_view{ev.key}.substr(0, prefix.size()) == prefix;
}

class change_history {
public:
  change_history(size_t max_events, size_t max_bytes);

  /// The number of the newest change; 0 before the first.
  uint64_t last() const { return last_; }

  /// The number of the oldest change held; last() + 1 when none is.
  uint64_t first() const {
    return events_.empty() ? last_ + 1 : events_.front().seq;
  }

  size_t size() const { return events_.size(); }
  size_t bytes() const { return bytes_; }

  /// Numbers `ev` (the next sequence number) and appends it.
  void append(change_event&& ev);

  /// Drops the oldest changes while the history is over its bounds,
  /// calling `dropped(ev)` for each before it goes.
  void trim(const std::function<void(const change_event&)>& dropped);

  /// Copies into `out` the changes under `prefix` from position `next` on
  /// (next >= first()), at most `max_events` of them and about `max_bytes`
  /// (one at least); returns the position after the last change looked at.
  uint64_t collect(uint64_t next, std::string_view prefix, size_t max_events,
                   size_t max_bytes, std::vector<change_event>& out) const;

private:
  size_t max_events_;
  size_t max_bytes_;
  std::deque<change_event> events_;
  size_t bytes_ = 0;
  uint64_t last_ = 0;
};

} // namespace solver_state
