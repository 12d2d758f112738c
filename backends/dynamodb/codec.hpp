#pragma once

// How a stored entry looks in DynamoDB's JSON: attribute values ({"B": base64},
// {"N": "123"}, {"S": "..."}) and the item layout of the table:
//   pk  (S, partition key) prefix class of the key: order, fill, settlement,
//       state, other; chunk items of large values use "blob:<sha256(key)>"
//   k   (B, sort key) the full key, so a Query returns keys in byte order
//   v   (B) the value; absent when empty or when the value is chunked
//   ver (N) the version; exp (N) absolute expiry in unix ms, 0 = never
//   ttl (N) expiry in unix seconds, only when exp != 0: an operator may turn on
//       DynamoDB's own TTL on it for garbage collection; reads never rely on it
//   blob, nc (N) chunk set id and chunk count of a value too big for one item

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <caf/expected.hpp>

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"
#include "messages/values.hpp"

namespace solver_state::dynamodb {

namespace json = boost::json;

json::object attr_b(std::string_view bytes);
json::object attr_s(std::string_view text);
json::object attr_n(int64_t number);
json::object attr_n(uint64_t number);

/// The bytes of a B attribute named `name` of `item`, if present and valid.
std::optional<std::string> read_b(const json::object& item,
                                  std::string_view name);

/// The value of an N attribute holding an integer, if present and valid.
std::optional<uint64_t> read_u64(const json::object& item,
                                 std::string_view name);

/// The partition key of a key class ("order", ..., "other").
std::string_view partition_of(key_class cls);

/// Every partition that holds keys (not chunks), in no particular order.
constexpr key_class all_classes[] = {key_class::order, key_class::fill,
                                     key_class::settlement, key_class::state,
                                     key_class::other};

/// Values above one item's limit are split into chunk items of
/// value_chunk_bytes. No store writes a value above largest_value_bytes
/// (the ceiling config allows for state.max_value_bytes), so a main item
/// never points at more than max_chunk_count chunks: a larger count was
/// written by someone else and is refused rather than read.
inline constexpr size_t value_chunk_bytes = 300'000;
inline constexpr size_t largest_value_bytes = size_t{1} << 30;
inline constexpr uint32_t max_chunk_count = static_cast<uint32_t>(
  (largest_value_bytes + value_chunk_bytes - 1) / value_chunk_bytes);

/// One item of the table as the store sees it.
struct stored_item {
  std::string key;
  std::string value; // empty when chunked (see chunks)
  version_t version = 0;
  unix_ms expires_at = 0;
  uint64_t blob = 0;   // chunk set id, 0 = value held inline
  uint32_t chunks = 0; // number of chunk items

  bool live_at(unix_ms now) const {
    return expires_at == 0 || expires_at > now;
  }
};

/// The primary key {pk, k} of `key`.
json::object key_of(std::string_view key);

/// The full item for PutItem.
json::object encode_item(const stored_item& item);

/// Decodes an item returned by GetItem, Query or BatchGetItem (projections
/// may leave out v, exp, blob, nc). serialization_error when k or ver is
/// missing or malformed; backend_error naming the key and the attribute
/// when v, exp, blob or nc is present but invalid (or nc above
/// max_chunk_count).
caf::expected<stored_item> decode_item(const json::object& item);

} // namespace solver_state::dynamodb
