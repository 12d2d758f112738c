// Base64 codecs: padded standard alphabet for batch-get values in JSON,
// unpadded URL-safe alphabet for the opaque list cursors.

#include "util/base64.hpp"

#include <array>
#include <cstdint>

namespace solver_state {

namespace {

constexpr char standard_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char url_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode(std::string_view bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint8_t>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  auto rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t n = at(i) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (pad)
      out += "==";
  } else if (rest == 2) {
    uint32_t n = (at(i) << 16) | (at(i + 1) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    if (pad)
      out += '=';
  }
  return out;
}

std::array<int8_t, 256> reverse_of(const char* alphabet) {
  std::array<int8_t, 256> table{};
  table.fill(-1);
  for (int i = 0; i < 64; ++i)
    table[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return table;
}

/// Decodes groups of 4 symbols; a final group of 2 or 3 symbols is allowed
/// only when `padded` is false. Unused low bits must be zero (canonical form),
/// so every byte string has exactly one encoding.
std::optional<std::string> decode(std::string_view text,
                                  const std::array<int8_t, 256>& table,
                                  bool padded) {
  if (padded) {
    if (text.size() % 4 != 0)
      return std::nullopt;
    if (!text.empty() && text.back() == '=')
      text.remove_suffix(1);
    if (!text.empty() && text.back() == '=')
      text.remove_suffix(1);
  }
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    auto v = table[static_cast<uint8_t>(c)];
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  return encode(bytes, standard_alphabet, true);
}

std::optional<std::string> base64_decode(std::string_view text) {
  static const auto table = reverse_of(standard_alphabet);
  return decode(text, table, true);
}

std::string base64url_encode(std::string_view bytes) {
  return encode(bytes, url_alphabet, false);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  static const auto table = reverse_of(url_alphabet);
  return decode(text, table, false);
}

} // namespace solver_state
