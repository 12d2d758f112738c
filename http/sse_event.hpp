#pragma once

// The Server-Sent Events of GET /v1/watch (text/event-stream), one per
// committed change:
//
//   id: <stream>-<seq>
//   event: put | delete | expire
//   data: {"key":"<key>","etag":"\"<v>\"","value":"<base64>"}   (put)
//   data: {"key":"<key>","etag":null}                           (delete, expire)
//
// A key that is not valid UTF-8 is written as "key_base64", as in exports.
// `event: resync` (data {"reason":"..."}, no id) tells the client to read
// the state again: its resume position is gone, or it fell behind.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "messages/watch.hpp"

namespace solver_state::gateway {

/// A position in a hub's sequence, as an event id names it.
struct event_position {
  uint64_t stream = 0;
  uint64_t seq = 0;
};

/// "<stream>-<seq>".
std::string event_id(uint64_t stream, uint64_t seq);

/// Reads an event id (a Last-Event-ID header); nullopt when malformed.
std::optional<event_position> parse_event_id(std::string_view text);

/// Appends the event of `ev`, blank line included.
void append_change_event(std::string& out, uint64_t stream,
                         const change_event& ev);

/// Appends a resync event saying why.
void append_resync_event(std::string& out, std::string_view reason);

} // namespace solver_state::gateway
