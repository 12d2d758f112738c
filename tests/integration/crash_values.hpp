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

/// Values of transaction keys ("fill:") span pages: a transaction is then
/// one write of many pages, which a kill can cut between pages (the kernel
/// stops a write for a fatal signal page by page).
inline uint64_t value_spread(const std::string& key) {
  return key.rfind("fill:", 0) == 0 ? 16u << 10 : 700;
}

inline std::string make_value(const std::string& key, uint64_t seq) {
  std::string out = std::to_string(seq) + "|";
  uint64_t x = stable_hash(key) ^ (seq * 0x9E3779B97F4A7C15ull);
  auto len = x % value_spread(key);
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

/// Actors of the crash writer that commit transactions, each on its own
/// order "c<cycle>t<id>".
constexpr int transaction_writers = 4;

/// Keys per transaction of the crash writer.
constexpr int transaction_keys = 10;

/// The i-th key a transaction of `order` writes: fill keys of one order
/// share a placement group.
inline std::string fill_key(const std::string& order, int i) {
  return "fill:{" + order + "}:" + static_cast<char>('a' + i);
}

} // namespace solver_state::crash
