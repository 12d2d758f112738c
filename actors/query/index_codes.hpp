#pragma once

// The first bytes of an index entry's field value and key, packed into
// words that compare as the full values do. An index's ordered entries
// carry these codes instead of the values: ordering one against another
// then reads 40 bytes of the entry itself, and goes to the key's record
// (a cache miss) only when the codes tie and cannot tell.

#include <cstdint>
#include <limits>
#include <string_view>

#include "messages/query.hpp"

namespace solver_state {

/// A field value as two big-endian words in the order of compare_values:
/// a tag (numbers before strings), then a number's sortable bits or a
/// string's first 14 bytes and its length (15 for "longer").
struct value_code {
  uint64_t high = 0;
  uint64_t low = 0;

  static value_code of(const index_value& v);

  /// Equal codes mean equal values: every number (where long double is
  /// the x87 format; elsewhere numbers are coded by their double and ties
  /// are decided on the values), and strings of at most 14 bytes.
  bool complete() const {
    if (high >> 56 == number_tag)
      return x87_long_double;
    return (low & 0xff) != longer_string;
  }

  static constexpr uint64_t number_tag = 0;
  static constexpr uint64_t string_tag = 1;
  /// A string's bytes in the code, and the length that says "longer".
  static constexpr size_t string_bytes = 14;
  static constexpr uint64_t longer_string = string_bytes + 1;
  /// x87 extended precision: 64 bits of mantissa (its integer bit
  /// explicit) in the first 8 bytes, sign and exponent in the next 2,
  /// little-endian.
  static constexpr bool x87_long_double =
    std::numeric_limits<long double>::digits == 64
    && std::numeric_limits<long double>::is_iec559
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
};

/// <0, 0, >0 as the big-endian pair (a_high, a_low) sorts before, with,
/// after (b_high, b_low).
inline int compare_words(uint64_t a_high, uint64_t a_low, uint64_t b_high,
                         uint64_t b_low) {
  if (a_high != b_high)
    return a_high < b_high ? -1 : 1;
  if (a_low != b_low)
    return a_low < b_low ? -1 : 1;
  return 0;
}

/// <0, 0, >0 as `a`'s value sorts before, possibly with, after `b`'s.
inline int compare(value_code a, value_code b) {
  return compare_words(a.high, a.low, b.high, b.low);
}

/// The first 16 bytes of a key past its index's prefix (zero-padded), as
/// two big-endian words: keys whose heads differ are ordered by them.
struct key_head {
  uint64_t high = 0;
  uint64_t low = 0;

  static key_head of(std::string_view key_past_prefix);
};

inline int compare(key_head a, key_head b) {
  return compare_words(a.high, a.low, b.high, b.low);
}

} // namespace solver_state
