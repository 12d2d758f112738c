#pragma once

// Which shard owns a key: the placement policy every router and every backend
// that partitions its data by shard (file recovery, shared-engine listings)
// must agree on. Stable across nodes and runs.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace solver_state {

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

} // namespace solver_state
