#pragma once

// Which shard and which store node own a key: the placement policy every
// router, the cluster and every backend that partitions its data by shard
// (file recovery, shared-engine listings) must agree on. Stable across nodes
// and runs.
//
// The contract is the placement group: keys of one group always share a
// shard and a store node, so listing an order's fills asks one shard and a
// transaction over the keys of one group has one owner node. A key's group,
// by the first rule that applies:
//
//   1. An order, its fills and its settlements: the order id.
//        order:{type}:{id}          -> everything after the second ':'
//        fill:{id}:{tx_hash}        -> the text between the first and the
//        settlement:{id}:{claim}       second ':'
//      Only when that id is non-empty: `order:t`, `order:t:`, `fill:x` and
//      `fill::tx` fall through to rule 2.
//   2. A hash tag, as in Redis Cluster: the text between the key's first '{'
//      and the first '}' after it, when that text is non-empty.
//        state:{quoter}:nonce, state:{quoter}:last -> quoter
//        a{}b{c} -> rule 3 (the first pair is empty), a{b -> rule 3
//   3. Otherwise the whole key.
//
// Rule 1 comes first because it is the one that keeps an order with its
// fills whatever their ids hold: with tags first, `order:{t}:x` would go to
// `t` while its fills go to `x`, and an id holding braces (`order:t:{a}b`,
// `fill:{a}b:tx`) is still one id. A group is plain text, so clients can put
// any key with an order by tagging it with the order id:
// `audit:{0xabc}:1` shares the group of `order:eip7683:0xabc`.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace solver_state {

/// The prefix classes of the naming convention. Orders, fills and
/// settlements are placed by their order id (see placement_group); DynamoDB
/// keeps each class in a partition of its own.
enum class key_class : uint8_t { order, fill, settlement, state, other };

key_class class_of(std::string_view key);

/// The placement group of `key`, by the rules above: a view into `key`.
std::string_view placement_group(std::string_view key);

/// The placement group that every key starting with `prefix` has, when the
/// prefix alone decides it; otherwise empty (a listing has to ask every
/// shard). Decided by:
///   - `fill:{id}:` and `settlement:{id}:` with a non-empty id (the prefix
///     holds the second ':', so every key under it has that id): the id;
///   - a prefix that holds a complete, non-empty tag (its first '{', then a
///     '}' after it) and that no rule-1 key can start with: the tag. Every
///     key under such a prefix has its first '{' and the first '}' after it
///     inside the prefix, so the same tag. Rule-1 keys can start with it only when it starts with `order:`
///     (whose id is the key's tail, which no prefix fixes), or with `fill:`
///     or `settlement:` without a second ':' (`fill:{x}` matches
///     `fill:{x}:tx` of id `{x}` and `fill:{x}y:tx` of id `{x}y`).
///     `fill::{t}` does qualify: an empty id falls through to the tag.
/// Never for `order:` prefixes: listing the orders of a type asks every
/// shard.
std::string_view group_of_prefix(std::string_view prefix);

/// A stable 64-bit hash (FNV-1a): the same on every node and every run, which
/// shard placement and rendezvous hashing rely on.
uint64_t stable_hash(std::string_view bytes);

/// Index of the shard that owns the keys of placement group `group` among
/// `shard_count` shards. Takes the group itself, never a key: a group read as
/// a key may have another group (the id of `order:t:{a}` is `{a}`, whose
/// group as a key is `a`).
size_t shard_of_group(std::string_view group, size_t shard_count);

/// Index of the shard that owns `key` among `shard_count` shards: the shard
/// of its placement group.
size_t shard_index(std::string_view key, size_t shard_count);

} // namespace solver_state
