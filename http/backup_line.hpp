#pragma once

// One line of GET /v1/export and POST /v1/import (NDJSON):
//   {"key":"<key>","value":"<base64>","expires_at_ms":<ms since epoch>|null}
// A key that is not valid UTF-8 (keys are bytes; JSON strings are text) is
// written as "key_base64" instead of "key", so every key survives the trip.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "messages/values.hpp"

namespace solver_state::gateway {

struct backup_line {
  std::string key;
  std::string value;
  /// 0: never expires (null in the line).
  unix_ms expires_at_ms = 0;
};

/// Appends the line of `key` holding `e` to `out`, '\n' included.
void append_backup_line(std::string& out, std::string_view key,
                        const entry& e);

/// Reads one line (without its '\n'). Refuses, with `problem` saying why:
/// anything but a JSON object of exactly "key" (or "key_base64"), "value"
/// and optionally "expires_at_ms"; a key outside the key rules; a value
/// that is not padded standard base64 or decodes to more than
/// `max_value_bytes`; an expiry that is neither null nor a positive integer.
std::optional<backup_line> parse_backup_line(std::string_view line,
                                             size_t max_value_bytes,
                                             std::string& problem);

/// Appends `"key":"<key>"`, or `"key_base64":"<base64>"` when the key is
/// not valid UTF-8.
void append_json_key(std::string& out, std::string_view key);

/// Appends `text` as the inside of a JSON string (escaped).
void append_json_text(std::string& out, std::string_view text);

/// True when `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool is_utf8(std::string_view text);

/// `text` with every byte that is not part of well-formed UTF-8 written as
/// \xNN: text for a JSON string (an error message quoting a key) that a
/// strict parser accepts and a reader can still tell apart.
std::string as_utf8_text(std::string_view text);

} // namespace solver_state::gateway
