#pragma once

// The bytes of one value file NAME.val: a 28-byte header, then the value.
//   "SSV1" | crc32c u32 | version u64 | expires_at_ms i64 | length u32 | value
// The CRC covers everything after itself, so a torn or bit-flipped file is
// detected instead of served. Integers are little-endian.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "messages/values.hpp"
#include "util/little_endian.hpp"

namespace solver_state {

constexpr size_t value_header_bytes = 28;

/// The largest value the file backend stores. Every length on disk is a u32
/// (a value file's length; a log record's length, which counts the value,
/// the key and the fixed fields): this leaves room for the largest key and
/// those fields below 4 GiB, far above the 1 GiB state.max_value_bytes
/// allows. file_store::set() refuses a larger value (payload_too_large)
/// instead of writing a length that would wrap and never replay.
constexpr uint64_t max_file_value_bytes
  = std::numeric_limits<uint32_t>::max() - (64u << 10);

/// The file contents for `e`.
std::string encode_value_file(const entry& e);

/// Parses and verifies a value file; `path` names it in the error
/// (backend_error: corrupt data must not be served).
caf::expected<entry> decode_value_file(std::string_view bytes,
                                       const std::string& path);

} // namespace solver_state
