#pragma once

// Watches: a subscriber names a key prefix and receives every committed
// change under it, in commit order per key. The node's watch hub numbers
// the changes of all its shards in one sequence and keeps a bounded history
// of them, so a subscriber can resume after a position it saw.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/values.hpp"

namespace solver_state {

/// Why a key changed.
enum class change_cause : uint8_t { put = 0, del = 1, expire = 2 };

const char* to_string(change_cause cause);

/// One committed change of one key.
struct change_event {
  /// Position in the hub's sequence (set by the hub; 0 until then).
  uint64_t seq = 0;
  uint8_t cause = static_cast<uint8_t>(change_cause::put);
  std::string key;
  /// The key's new version (put); 0 for a delete or an expiry.
  version_t version = 0;
  /// The new value (put); empty otherwise.
  std::string value;
  /// When the new value expires (put with a TTL); 0 otherwise.
  unix_ms expires_at_ms = 0;

  change_cause why() const { return static_cast<change_cause>(cause); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change_event& x) {
  return f(caf::meta::type_name("solver_state::change_event"), x.seq,
           x.cause, x.key, x.version, x.value, x.expires_at_ms);
}

/// The next changes a watcher gets, in order. `stream` names the hub's
/// sequence: it changes when the node restarts, so a resume position of an
/// earlier stream is never taken for one of this.
struct change_batch {
  uint64_t stream = 0;
  std::vector<change_event> events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, change_batch& x) {
  return f(caf::meta::type_name("solver_state::change_batch"), x.stream,
           x.events);
}

/// A subscription: every change of a key starting with `prefix` (empty:
/// every key). With `resume` set, the changes after position `after` of
/// stream `stream` come first, while the hub's history still holds them;
/// otherwise (or when they are gone) the watcher is told to resync and
/// gets the changes from now on.
struct watch_request {
  std::string prefix;
  bool resume = false;
  uint64_t stream = 0;
  uint64_t after = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, watch_request& x) {
  return f(caf::meta::type_name("solver_state::watch_request"), x.prefix,
           x.resume, x.stream, x.after);
}

/// The subscription's start: the hub's stream and the position of the last
/// change before it (the first batch starts after it, or after the resume
/// position when that was honoured).
struct watch_started {
  uint64_t stream = 0;
  uint64_t position = 0;
  /// The resume position could not be honoured: a resync follows.
  bool resync = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, watch_started& x) {
  return f(caf::meta::type_name("solver_state::watch_started"), x.stream,
           x.position, x.resync);
}

/// Whether the hub reads a shared engine's change feed, and its state.
enum class feed_state : uint8_t { none = 0, reading = 1, lost = 2 };

/// The hub's sizes and counters, for the metrics actor.
struct watch_report {
  uint64_t watchers = 0;
  uint64_t history_events = 0;
  uint64_t history_bytes = 0;
  /// Since the last report.
  uint64_t events = 0;
  uint64_t deliveries = 0;
  uint64_t resyncs = 0;
  /// The engine's change feed (feed_state), and how often it was lost since
  /// the last report.
  uint8_t feed = 0;
  uint64_t feed_losses = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, watch_report& x) {
  return f(caf::meta::type_name("solver_state::watch_report"), x.watchers,
           x.history_events, x.history_bytes, x.events, x.deliveries,
           x.resyncs, x.feed, x.feed_losses);
}

} // namespace solver_state
