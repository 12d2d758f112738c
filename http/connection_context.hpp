#pragma once

// What every connection of one server shares: limits, the dispatcher, the
// bridge its calls go through, the bearer token, the request counters, the
// stopping flag and the registry of live connections (stop() closes the idle
// ones, the listener counts them against http.max_connections), the budget
// of answers held for their readers and that of request bodies held.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/api.hpp"
#include "http/body_budget.hpp"
#include "http/reply_budget.hpp"
#include "http/request_stats.hpp"

namespace solver_state::gateway {

class session;
class store_bridge;

struct connection_limits {
  size_t max_body_bytes = 1 << 20;
  /// The body of POST /v1/import, a backup: larger than any other.
  size_t max_import_bytes = 64 << 20;
  /// Request line plus header fields; beyond it 431 (414 when the request
  /// line alone is that long) and close.
  size_t header_limit = 16 * 1024;
  /// Header fields in one request; beyond it 431 and close. The byte limit
  /// alone would let 16 KiB of "a:\r\n" become ~4000 allocated fields
  /// (~300 KiB) per connection. 100 is Apache's LimitRequestFields.
  size_t max_header_fields = 100;
  /// Open connections; the listener closes new ones at once beyond it.
  size_t max_connections = 10'000;
  /// For a whole request (header and body, from its first byte) and for an
  /// idle keep-alive connection; also bounds each response write (slow
  /// readers).
  std::chrono::milliseconds read_timeout{30'000};
  /// How long a new connection may wait before the first byte of its first
  /// request (at most read_timeout): a socket opened and left silent holds
  /// a connection slot only this long.
  std::chrono::milliseconds first_byte_timeout{5'000};
  /// How long a request may wait for the store before 504 timeout.
  std::chrono::milliseconds request_timeout{5'000};
  /// http.access_log: one info line per request (else debug).
  bool access_log = false;
};

/// The live connections, so stop() can close the idle ones and the listener
/// can count them. A connection is in it from its start until its session
/// object is destroyed, whichever way it ended, or until it is evicted.
///
/// It also keeps, oldest first, the connections waiting for the first byte
/// of a request (a new connection, or a keep-alive one between requests):
/// when every slot is taken, the listener closes the one idle longest to
/// admit a new connection, so sockets that never send anything cannot lock
/// out a probe. The mutex makes a connection's own "bytes came" (busy) and
/// the listener's eviction exclude each other: exactly one of them wins.
class connection_registry {
public:
  void add(const std::shared_ptr<session>& s);
  /// Forgets `s` (its destructor), idle or not.
  void remove(session* s);
  std::vector<std::shared_ptr<session>> snapshot() const;
  /// Connections counted against http.max_connections: the evicted ones
  /// are not, their sockets close as soon as their strand runs.
  size_t size() const;

  /// `s` waits for the first byte of a request: it may be evicted.
  void idle(session* s);
  /// Bytes of a request came on `s`: no longer idle. False when it was
  /// evicted meanwhile: it must close without serving them.
  bool busy(session* s);
  /// Takes the connection idle longest out of the registry and marks it
  /// evicted (it closes once its strand runs); null when none is idle.
  std::shared_ptr<session> evict_oldest_idle();

private:
  void unlink_idle(session* s);

  mutable std::mutex mtx_;
  std::unordered_map<const session*, std::weak_ptr<session>> sessions_;
  /// The idle connections, linked through their sessions' idle_prev_ and
  /// idle_next_ (no allocation per request), oldest at idle_head_.
  session* idle_head_ = nullptr;
  session* idle_tail_ = nullptr;
};

struct connection_context {
  connection_limits limits;
  const api& handlers;
  request_stats& stats;
  /// Where the handlers' store calls go; a connection cancels its calls
  /// there when it answers 504.
  store_bridge& bridge;
  /// http.auth_token; empty: no authentication.
  std::string auth_token;
  std::atomic<bool> stopping{false};
  connection_registry registry;
  /// Bytes of answers the connections hold (http.max_pending_reply_bytes).
  reply_budget replies;
  /// Bytes of request bodies the connections hold
  /// (http.max_pending_body_bytes).
  body_budget bodies;
};

} // namespace solver_state::gateway
