#pragma once

// What one shard's column family holds, byte by byte. Keys of the store are
// stored as they are; valid keys have no control bytes (messages/keys.hpp),
// so the two reserved prefixes below sort before every one of them and a
// scan of user keys never meets them:
//   <key>                          -> value record (version, expiry, value)
//   "\x01" be64(expires_at) <key>  -> "" (the expiry index, for the sweep)
//   "\x00meta"                     -> shard totals (keys, bytes, last version)
//   "\x00layout" (shard 0 only)     -> the shard count every key is placed by
// The totals are rewritten in the same write batch as every change, so after
// a crash they are exact, and an open counts nothing.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "messages/values.hpp"

namespace solver_state::rocks {

/// The first key a scan of user keys starts at: above the reserved ones.
constexpr std::string_view first_user_key{"\x20", 1};

/// The key of the shard totals.
constexpr std::string_view meta_key{"\x00meta", 5};

/// The key of the layout record in shard 0: the shard count the keys were
/// last placed by, written once a change of the count has moved every key
/// (database::open).
constexpr std::string_view layout_key{"\x00layout", 7};

/// The byte every expiry-index key starts with.
constexpr char expiry_tag = '\x01';

/// A value with the version and expiry it was written with.
std::string encode_record(std::string_view value, version_t version,
                          unix_ms expires_at);

/// The entry a record holds; nullopt when it is not a record this version
/// wrote, one at version 0 included (the caller reports corruption).
std::optional<entry> decode_record(std::string_view bytes);

/// What a record says about its value, without copying it.
struct record_head {
  version_t version = 0;
  unix_ms expires_at = 0;
  size_t value_size = 0;
};

/// The head of a record; nullopt as above.
std::optional<record_head> decode_head(std::string_view bytes);

/// The expiry of a record; nullopt as above.
std::optional<unix_ms> record_expiry(std::string_view bytes);

/// The expiry-index key of `key` expiring at `at`: sorted by time, so the
/// sweep reads from the start up to now.
std::string expiry_key(unix_ms at, std::string_view key);

/// The upper bound (exclusive) of index keys expiring at or before `now`.
std::string expiry_bound(unix_ms now);

/// The time and key of an expiry-index key; nullopt when malformed.
std::optional<std::pair<unix_ms, std::string_view>>
parse_expiry_key(std::string_view index_key);

/// The totals of one shard.
struct shard_totals {
  uint64_t keys = 0;
  uint64_t bytes = 0; // keys + values
  version_t last_version = 0;
};

std::string encode_totals(const shard_totals& t);
std::optional<shard_totals> decode_totals(std::string_view bytes);

} // namespace solver_state::rocks
