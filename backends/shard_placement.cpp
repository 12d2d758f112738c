// Shard placement: key classes, placement groups and the stable hash behind
// them.

#include "backends/shard_placement.hpp"

namespace solver_state {

namespace {

constexpr std::string_view class_names[] = {"order:", "fill:", "settlement:",
                                            "state:"};

bool is_placed_by_order(key_class cls) {
  return cls == key_class::order || cls == key_class::fill
         || cls == key_class::settlement;
}

/// Rule 1: the order id of an order, fill or settlement key; empty for any
/// other key and for one whose id is missing or empty.
std::string_view order_id_of(std::string_view key) {
  auto cls = class_of(key);
  if (!is_placed_by_order(cls))
    return {};
  auto first = key.find(':');
  auto second = key.find(':', first + 1);
  if (second == std::string_view::npos)
    return {};
  if (cls == key_class::order)
    return key.substr(second + 1);
  return key.substr(first + 1, second - first - 1);
}

/// Rule 2: the text between the first '{' and the first '}' after it; empty
/// when there is no such pair or nothing between them.
std::string_view hash_tag_of(std::string_view key) {
  auto open = key.find('{');
  if (open == std::string_view::npos)
    return {};
  auto close = key.find('}', open + 1);
  if (close == std::string_view::npos)
    return {};
  return key.substr(open + 1, close - open - 1);
}

} // namespace

key_class class_of(std::string_view key) {
  for (size_t i = 0; i < 4; ++i)
    if (key.substr(0, class_names[i].size()) == class_names[i])
      return static_cast<key_class>(i);
  return key_class::other;
}

std::string_view placement_group(std::string_view key) {
  if (auto id = order_id_of(key); !id.empty())
    return id;
  if (auto tag = hash_tag_of(key); !tag.empty())
    return tag;
  return key;
}

std::string_view group_of_prefix(std::string_view prefix) {
  auto cls = class_of(prefix);
  if (cls == key_class::order)
    return {};
  if (cls == key_class::fill || cls == key_class::settlement) {
    auto first = prefix.find(':');
    auto second = prefix.find(':', first + 1);
    if (second == std::string_view::npos)
      return {};
    if (auto id = prefix.substr(first + 1, second - first - 1); !id.empty())
      return id;
    // Every key under `fill::` has an empty id: its tag decides, if any.
  }
  // A prefix of class state or other: no rule-1 key starts with it, unless
  // it is shorter than a class name ("fi"), and then it holds no '{'.
  return hash_tag_of(prefix);
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

size_t shard_of_group(std::string_view group, size_t shard_count) {
  return shard_count <= 1 ? 0 : stable_hash(group) % shard_count;
}

size_t shard_index(std::string_view key, size_t shard_count) {
  return shard_of_group(placement_group(key), shard_count);
}

} // namespace solver_state
