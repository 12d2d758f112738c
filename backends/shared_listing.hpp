#pragma once

// Listing helpers for backends whose shards share one database (Redis,
// PostgreSQL, DynamoDB). Every shard store sees every key, but the router
// asks several shards for one listing and merges their pages: so each shard
// store lists only the keys its shard owns (shard_index), and scans the
// prefix range in key order with a byte-wise upper bound.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

namespace solver_state {

/// Which keys of a shared database one shard store answers for.
struct shard_slice {
  size_t index = 0;
  size_t count = 1;

  bool owns(std::string_view key) const {
    return count <= 1 || shard_index(key, count) == index;
  }

  /// Store-wide chores (TTL sweep, size gauges) are done by one shard only.
  bool leads() const { return index == 0; }
};

/// The smallest string greater than every string starting with `prefix`
/// (byte-wise, as std::string compares), or nullopt when there is none (empty
/// prefix, or only 0xff bytes).
inline std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string out{prefix};
  while (!out.empty()) {
    auto last = static_cast<unsigned char>(out.back());
    if (last < 0xff) {
      out.back() = static_cast<char>(last + 1);
      return out;
    }
    out.pop_back();
  }
  return std::nullopt;
}

/// A byte string greater than every valid key (keys have at most
/// max_key_bytes bytes): the open upper bound of a range scan.
inline std::string past_every_key() {
  return std::string(max_key_bytes + 1, '\xff');
}

} // namespace solver_state
