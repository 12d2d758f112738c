#include "actors/query/index_codes.hpp"

#include <algorithm>
#include <cstring>

namespace solver_state {

namespace {

uint64_t load_big_endian(const unsigned char* p) {
  uint64_t out = 0;
  for (int i = 0; i < 8; ++i)
    out = out << 8 | p[i];
  return out;
}

constexpr auto x87_long_double = value_code::x87_long_double;
constexpr auto string_bytes = value_code::string_bytes;

/// Sign and magnitude turned into an unsigned order: positive numbers
/// above negative ones (sign bit set), negative ones reversed (all bits
/// flipped).
void sortable(uint64_t& sign_exponent, uint64_t& mantissa, uint64_t sign_bit) {
  if (sign_exponent & sign_bit) {
    sign_exponent = ~sign_exponent & ((sign_bit << 1) - 1);
    mantissa = ~mantissa;
  } else {
    sign_exponent |= sign_bit;
  }
}

void code_number(long double x, unsigned char* out) {
  if (x == 0)
    x = 0; // -0 sorts with +0
  if constexpr (x87_long_double) {
    unsigned char raw[sizeof(long double)];
    std::memcpy(raw, &x, sizeof raw);
    uint64_t mantissa = 0, sign_exponent = raw[8] | raw[9] << 8;
    std::memcpy(&mantissa, raw, 8);
    sortable(sign_exponent, mantissa, 0x8000);
    out[1] = static_cast<unsigned char>(sign_exponent >> 8);
    out[2] = static_cast<unsigned char>(sign_exponent);
    for (int i = 0; i < 8; ++i)
      out[3 + i] = static_cast<unsigned char>(mantissa >> (56 - 8 * i));
  } else {
    // The double nearest x: a monotonic rounding, so the codes keep the
    // order and ties go to the values.
    double d = static_cast<double>(x);
    uint64_t bits = 0;
    std::memcpy(&bits, &d, 8);
    uint64_t sign_exponent = bits >> 52, mantissa = bits << 12;
    sortable(sign_exponent, mantissa, 0x800);
    uint64_t word = sign_exponent << 52 | mantissa >> 12;
    for (int i = 0; i < 8; ++i)
      out[1 + i] = static_cast<unsigned char>(word >> (56 - 8 * i));
  }
}

} // namespace

value_code value_code::of(const index_value& v) {
  unsigned char bytes[16] = {};
  if (v.is_number) {
    bytes[0] = value_code::number_tag;
    code_number(v.number, bytes);
  } else {
    bytes[0] = value_code::string_tag;
    auto n = std::min(v.text.size(), string_bytes);
    std::memcpy(bytes + 1, v.text.data(), n);
    bytes[15] = static_cast<unsigned char>(
      std::min<size_t>(v.text.size(), value_code::longer_string));
  }
  return {load_big_endian(bytes), load_big_endian(bytes + 8)};
}

key_head key_head::of(std::string_view key_past_prefix) {
  unsigned char bytes[16] = {};
  std::memcpy(bytes, key_past_prefix.data(),
              std::min(key_past_prefix.size(), sizeof bytes));
  return {load_big_endian(bytes), load_big_endian(bytes + 8)};
}

} // namespace solver_state
