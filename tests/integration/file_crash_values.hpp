#pragma once

// The values of the crash test: self-describing, so the checker can tell a
// complete value from a half-written one. A value is "SEQ|" followed by
// bytes derived from the key and SEQ alone.

#include <cstdint>
#include <optional>
#include <string>

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

namespace solver_state::crash {

inline std::string make_value(const std::string& key, uint64_t seq) {
  std::string out = std::to_string(seq) + "|";
  uint64_t x = stable_hash(key) ^ (seq * 0x9E3779B97F4A7C15ull);
  auto len = x % 700;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out += static_cast<char>(x & 0xFF);
  }
  return out;
}

/// The sequence number a well-formed value was made from.
inline std::optional<uint64_t> seq_of(const std::string& key,
                                      const std::string& value) {
  auto bar = value.find('|');
  if (bar == std::string::npos || bar == 0 || bar > 20)
    return std::nullopt;
  uint64_t seq = 0;
  for (size_t i = 0; i < bar; ++i) {
    if (value[i] < '0' || value[i] > '9')
      return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(value[i] - '0');
  }
  if (make_value(key, seq) != value)
    return std::nullopt;
  return seq;
}

} // namespace solver_state::crash
