#pragma once

// The key naming convention and its rules, in one place:
//   order:{order_type}:{order_id}        fill:{order_id}:{tx_hash}
//   settlement:{order_id}:{claim_hash}   state:{component}:{key}
// A key is 1..1024 bytes without control bytes (0x00-0x1F, 0x7F).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "messages/domain.hpp"

namespace solver_state {

constexpr size_t max_key_bytes = 1024;

/// Empty when `key` is valid, else why it is not.
std::string key_problem(std::string_view key);

inline bool is_valid_key(std::string_view key) {
  return key_problem(key).empty();
}

/// Empty when `segment` can be one segment of a typed key (non-empty, no ':',
/// no control bytes), else why it cannot.
std::string segment_problem(std::string_view what, std::string_view segment);

/// The prefix classes of the naming convention. They decide which part of a
/// key picks its shard (see shard_group).
enum class key_class : uint8_t { order, fill, settlement, state, other };

key_class class_of(std::string_view key);

/// The part of a key that picks its shard. Fills and settlements are grouped
/// by order (`fill:{order_id}`), so listing the fills of one order asks one
/// shard; every other key is spread by its full text.
std::string_view shard_group(std::string_view key);

/// If every key starting with `prefix` shares one shard group, that group;
/// otherwise empty (the listing has to ask every shard).
std::string_view group_of_prefix(std::string_view prefix);

/// A stable 64-bit hash (FNV-1a): the same on every node and every run, which
/// shard placement and rendezvous hashing rely on.
uint64_t stable_hash(std::string_view bytes);

/// Index of the shard that owns `key` among `shard_count` shards.
size_t shard_index(std::string_view key, size_t shard_count);

// -- typed keys ----------------------------------------------------------------

std::string order_key(std::string_view order_type, std::string_view order_id);
std::string orders_prefix(std::string_view order_type);
std::string fill_key(std::string_view order_id, std::string_view tx_hash);
std::string fills_prefix(std::string_view order_id);
std::string settlement_key(std::string_view order_id,
                           std::string_view claim_hash);
std::string settlements_prefix(std::string_view order_id);
std::string state_key(std::string_view component, std::string_view key);

/// The key a typed record lives under, or for a list query the prefix whose
/// shard group picks the owner. Routers send each typed message to the owner
/// of its routing key.
std::string routing_key(const order& x);
std::string routing_key(const order_ref& x);
std::string routing_key(const fill& x);
std::string routing_key(const fill_ref& x);
std::string routing_key(const fills_of& x);
std::string routing_key(const settlement& x);
std::string routing_key(const settlement_ref& x);
std::string routing_key(const settlements_of& x);
std::string routing_key(const component_state& x);
std::string routing_key(const component_key& x);

/// Empty when every segment of the typed record is valid, else the problem.
std::string problem_of(const order_ref& x);
std::string problem_of(const fill_ref& x);
std::string problem_of(const settlement_ref& x);
std::string problem_of(const component_key& x);

} // namespace solver_state
