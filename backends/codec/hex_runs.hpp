#pragma once

// Long runs of lowercase hex digits packed two to a byte: the transform the
// codec applies before zstd. Solver values are JSON full of addresses,
// hashes, signatures and amounts written as hex; after a dictionary has
// taken the field names, what is left is mostly those digits, random at 4
// bits each. zstd can only reach that by Huffman-coding its literals,
// which made decoding a 1.5 KiB order cost 1.3 us; packed first, the same
// order stores smaller and decodes in a third of the time.
//
// Format: the input's bytes, except that
//   0xF5 varint(n), n >= 1, then n bytes  = 2n hex digits, high nibble first
//   0xF5 0x00                             = the byte 0xF5 itself
// 0xF5 never occurs in UTF-8, so JSON text needs no escapes. Only runs of
// at least min_packed_digits are packed (a shorter one would save less
// than its marker costs); of an odd run, the last digit stays as it is.

#include <cstddef>
#include <string>
#include <string_view>

namespace solver_state {

/// Shortest run of hex digits worth packing.
constexpr size_t min_packed_digits = 16;

/// Bytes pack_hex_runs may write for `n` bytes of input: an input of
/// nothing but 0xF5 bytes doubles.
constexpr size_t packed_bound(size_t n) {
  return 2 * n;
}

/// Writes `in` with its runs of hex digits packed to `out` (room for
/// packed_bound(in.size()) bytes) and returns how many bytes it wrote, or
/// 0 when `in` has no run worth packing (the caller keeps `in` as it is).
size_t pack_hex_runs(std::string_view in, char* out);

/// The same into a string of its own (empty: no run worth packing).
std::string pack_hex_runs(std::string_view in);

/// Undoes pack_hex_runs into `out`. False when `in` is not something it
/// wrote (a marker cut short, a run past the end) or when the result would
/// exceed `max_bytes`; `out` is then unspecified.
bool unpack_hex_runs(std::string_view in, size_t max_bytes, std::string& out);

} // namespace solver_state
