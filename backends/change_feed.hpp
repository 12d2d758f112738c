#pragma once

// A shared engine's CHANGE FEED: every change any client of the engine
// commits (every solver-state node on the same Redis or PostgreSQL), as the
// engine itself reports it. The engine emits the report inside the write's
// own atomic unit (Redis: PUBLISH in the same MULTI or script; PostgreSQL:
// NOTIFY from a trigger, sent at COMMIT), so a write that committed cannot
// lose its event to a crash of the node that made it, and every node sees
// every change in the engine's commit order. What a feed cannot promise is
// delivery while its own connection is down: next() then fails, and the
// node tells its watchers to resync once start() works again.
//
// Values arrive as the backend stores them (compressed or encrypted by the
// value codec); whoever reads the feed decodes them. Blocking: read from one
// detached actor's thread (actors/watch/engine_feed.hpp).

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/watch.hpp"

namespace solver_state {

class change_feed {
public:
  virtual ~change_feed();

  /// Whom logs and resync reasons name ("redis 127.0.0.1:6379 channel ...").
  virtual std::string describe() const = 0;

  /// Connects and subscribes: changes committed after it succeeds are
  /// returned by next(). Bounded by the connection's timeouts.
  virtual caf::error start() = 0;

  /// Appends up to `max` changes, in commit order, waiting up to `wait` for
  /// the first. An error means the feed is lost (changes committed from now
  /// until the next successful start() are not seen).
  virtual caf::error next(std::vector<change_event>& out, size_t max,
                          std::chrono::milliseconds wait)
    = 0;

  /// True when the engine reports expiries itself (cause expire); otherwise
  /// the reader tells its watchers when a key written with a TTL is due.
  virtual bool reports_expiries() const = 0;

  /// For a feed that does not report expiries: the keys that hold a TTL in
  /// the engine now, with their expiries (ms), soonest first, at most `max`.
  /// Read after start(), since what the reader tracked from before may be
  /// stale (a key written again without a TTL while the feed was lost must
  /// get no expire event). Bounded by the connection's timeouts.
  virtual caf::expected<std::vector<std::pair<std::string, unix_ms>>>
  expiries(size_t max);
};

/// Where a store's watch events come from.
struct watch_support {
  enum source_t : uint8_t {
    /// The shards record their own changes (an engine only this node
    /// writes: memory, file, rocksdb).
    shards,
    /// The engine's change feed (several nodes may write it).
    engine_feed,
    /// None: watches are refused with `why`.
    refused,
  };
  source_t source = shards;
  std::string why;
};

} // namespace solver_state
