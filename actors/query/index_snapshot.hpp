#pragma once

// A shard's declared indexes as bytes, which its backend keeps from a clean
// stop to the next start (state_store::keep_snapshot): that start loads the
// fields it holds instead of reading and parsing every value under the
// indexes' prefixes again (a million orders from value files: minutes with
// a cold page cache).
//
//   "SSQX2\n\0\0" | field_rules u32 | shard u32 | shard_count u32
//   | indexes u32
//   | indexes x (name, prefix, path: each len u32 | bytes)
//   | keys u64 | keys x (key_len u32 | key | version u64 | expires_at i64
//                        | indexes x field)
//   | crc32c u32 of everything before it
//
//   field: 0 (none) | 1 number (16 bytes: the long double's own, its
//          padding zero) | 2 string (len u32 | bytes)
//
// A snapshot names the rules its fields were read by (field_rules_version,
// actors/query/json_fields.hpp), the shard layout and the indexes it was
// written for: a start of another build that reads fields otherwise, with
// other indexes, or another shard count, builds from the values. SSQX1
// snapshots (before the rules were recorded) are rebuilt.

#include <cstdint>
#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace solver_state {

class index_set;

/// The bytes of `set`, the indexes of shard `shard` of `shard_count`.
std::string encode_index_snapshot(const index_set& set, uint32_t shard,
                                  uint32_t shard_count);

/// Loads `bytes` into `set` (empty, of the indexes the shard declares now),
/// when they were written for this shard, this shard count and these
/// indexes, and are whole: their checksum and structure are checked before
/// anything is loaded. Otherwise, why not (and `set` is left empty).
caf::error load_index_snapshot(std::string_view bytes, uint32_t shard,
                               uint32_t shard_count, index_set& set);

} // namespace solver_state
