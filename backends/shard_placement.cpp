// Shard placement: key classes, shard groups and the stable hash behind them.

#include "backends/shard_placement.hpp"

namespace solver_state {

namespace {

constexpr std::string_view class_names[] = {"order:", "fill:", "settlement:",
                                            "state:"};

} // namespace

key_class class_of(std::string_view key) {
  for (size_t i = 0; i < 4; ++i)
    if (key.substr(0, class_names[i].size()) == class_names[i])
      return static_cast<key_class>(i);
  return key_class::other;
}

std::string_view shard_group(std::string_view key) {
  auto cls = class_of(key);
  if (cls != key_class::fill && cls != key_class::settlement)
    return key;
  auto first = key.find(':');
  auto second = key.find(':', first + 1);
  return second == std::string_view::npos ? key : key.substr(0, second);
}

std::string_view group_of_prefix(std::string_view prefix) {
  auto cls = class_of(prefix);
  if (cls != key_class::fill && cls != key_class::settlement)
    return {};
  auto first = prefix.find(':');
  auto second = prefix.find(':', first + 1);
  if (second == std::string_view::npos)
    return {};
  return prefix.substr(0, second);
}

uint64_t stable_hash(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  // FNV-1a mixes the low bits poorly for short keys; finish with a
  // murmur-style avalanche so `% shard_count` spreads evenly.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

size_t shard_index(std::string_view key, size_t shard_count) {
  return shard_count <= 1 ? 0 : stable_hash(shard_group(key)) % shard_count;
}

} // namespace solver_state
