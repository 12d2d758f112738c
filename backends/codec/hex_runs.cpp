// Hex runs packed two digits to a byte (see hex_runs.hpp). The runs are
// found in a bitmap of the digits, and the bitmap is built, the digits
// packed and unpacked 16 bytes at a time where SSE2 is there (every
// x86-64): byte by byte, packing a 1.5 KiB order took 1.5 us, as long as
// compressing it. Tails and other CPUs take the scalar loops.

#include "backends/codec/hex_runs.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

// SOLVER_STATE_SCALAR_HEX: the scalar loops alone, as CPUs without SSE2
// run them (tests/CMakeLists.txt builds the tests so too).
#if defined(__SSE2__) && !defined(SOLVER_STATE_SCALAR_HEX)
#define HEX_RUNS_SSE2 1
#include <emmintrin.h>
#endif

namespace solver_state {

namespace {

constexpr unsigned char marker = 0xF5;

/// A lowercase hex digit's value, or 0xFF for any other byte.
constexpr std::array<unsigned char, 256> digit_values = [] {
  std::array<unsigned char, 256> t{};
  for (auto& v : t)
    v = 0xFF;
  for (int c = '0'; c <= '9'; ++c)
    t[c] = static_cast<unsigned char>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c)
    t[c] = static_cast<unsigned char>(c - 'a' + 10);
  return t;
}();

/// The two digits of every byte, high nibble first.
constexpr std::array<char, 512> digit_pairs = [] {
  std::array<char, 512> t{};
  constexpr char digits[] = "0123456789abcdef";
  for (int b = 0; b < 256; ++b) {
    t[2 * b] = digits[b >> 4];
    t[2 * b + 1] = digits[b & 15];
  }
  return t;
}();

bool is_digit(unsigned char c) {
  return digit_values[c] != 0xFF;
}

#if defined(HEX_RUNS_SSE2)
/// Bit i set: p[i] is a lowercase hex digit (16 bytes from p).
unsigned digit_mask(const unsigned char* p) {
  auto v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Signed compares: bytes from 0x80 are negative, below both ranges.
  auto in_09 = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                             _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
  auto in_af = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                             _mm_cmplt_epi8(v, _mm_set1_epi8('f' + 1)));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(in_09, in_af)));
}
#endif

/// Bit i (of word i / 64) set: byte i of `in` is a hex digit. `m` holds
/// (in.size() + 63) / 64 words; the bits past the end are 0.
void mark_digits(std::string_view in, uint64_t* m) {
  auto* p = reinterpret_cast<const unsigned char*>(in.data());
  auto n = in.size();
  size_t i = 0;
#if defined(HEX_RUNS_SSE2)
  // A word at a time in a register: or-ing each 16-bit mask into memory
  // chained every store to the next load.
  for (; i + 64 <= n; i += 64) {
    uint64_t word = 0;
    for (unsigned k = 0; k < 4; ++k)
      word |= static_cast<uint64_t>(digit_mask(p + i + 16 * k)) << (16 * k);
    m[i / 64] = word;
  }
#endif
  // The tail, or every word where SSE2 is not there.
  for (; i < n; i += 64) {
    uint64_t word = 0;
    for (auto at = i; at < std::min(n, i + 64); ++at)
      if (is_digit(p[at]))
        word |= uint64_t{1} << (at - i);
    m[i / 64] = word;
  }
}

/// Bit j set: bytes 64 * w + j .. + min_packed_digits - 1 are all digits.
/// Only the first of a stretch of such bits starts a run (the byte before
/// it cannot be a digit, or that byte's bit would be set too).
uint64_t long_runs(const uint64_t* m, size_t w, size_t words) {
  static_assert(min_packed_digits == 16, "four doublings make 16");
  using bits128 = unsigned __int128;
  auto x = bits128{m[w]} | bits128{w + 1 < words ? m[w + 1] : 0} << 64;
  // Bit j of x is then the AND of bits j..j+1, j..j+3, j..j+7, j..j+15.
  x &= x >> 1;
  x &= x >> 2;
  x &= x >> 4;
  x &= x >> 8;
  return static_cast<uint64_t>(x);
}

/// The first byte from `i` that is not a digit (or `n`).
size_t run_end(const uint64_t* m, size_t i, size_t n) {
  auto w = i / 64;
  auto gaps = ~m[w] & (~uint64_t{0} << (i % 64));
  while (!gaps) {
    if (++w * 64 >= n)
      return n;
    gaps = ~m[w];
  }
  return std::min(n, w * 64 + static_cast<size_t>(__builtin_ctzll(gaps)));
}

char* write_varint(char* w, size_t n) {
  while (n >= 0x80) {
    *w++ = static_cast<char>(0x80 | (n & 0x7F));
    n >>= 7;
  }
  *w++ = static_cast<char>(n);
  return w;
}

/// Writes `text` (no run worth packing in it) at `w`, escaping the marker;
/// returns the end of what it wrote.
char* write_plain(char* w, std::string_view text) {
  while (!text.empty()) {
    auto at = text.find(static_cast<char>(marker));
    auto plain = text.substr(0, at);
    std::memcpy(w, plain.data(), plain.size());
    w += plain.size();
    if (at == std::string_view::npos)
      return w;
    *w++ = static_cast<char>(marker);
    *w++ = '\0';
    text.remove_prefix(at + 1);
  }
  return w;
}

/// Packs the 2 * n digits of `r` into n bytes at `w`.
void pack_digits(const unsigned char* r, size_t n, unsigned char* w) {
  size_t i = 0;
#if defined(HEX_RUNS_SSE2)
  for (; i + 16 <= n; i += 16) {
    auto half = [&](size_t at) {
      auto c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + at));
      // '0'..'9' -> 0..9, 'a'..'f' -> 10..15 (39 = 'a' - '0' - 10).
      auto v = _mm_sub_epi8(c, _mm_set1_epi8('0'));
      v = _mm_sub_epi8(v, _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('9')),
                                        _mm_set1_epi8(39)));
      // Each 16-bit lane holds (high digit, low digit): make it one byte.
      auto high = _mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x00FF)), 4);
      return _mm_or_si128(high, _mm_srli_epi16(v, 8));
    };
    auto packed = _mm_packus_epi16(half(2 * i), half(2 * i + 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(w + i), packed);
  }
#endif
  for (; i < n; ++i)
    w[i] = static_cast<unsigned char>(digit_values[r[2 * i]] << 4
                                      | digit_values[r[2 * i + 1]]);
}

/// Writes the 2 * n digits of the n bytes at `r` to `w`.
void unpack_digits(const unsigned char* r, size_t n, char* w) {
  size_t i = 0;
#if defined(HEX_RUNS_SSE2)
  for (; i + 16 <= n; i += 16) {
    auto b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + i));
    auto low_nibbles = _mm_set1_epi8(0x0F);
    auto high = _mm_and_si128(_mm_srli_epi16(b, 4), low_nibbles);
    auto low = _mm_and_si128(b, low_nibbles);
    auto to_chars = [](__m128i v) {
      auto letters = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(9)),
                                   _mm_set1_epi8(39));
      return _mm_add_epi8(_mm_add_epi8(v, _mm_set1_epi8('0')), letters);
    };
    auto first = to_chars(_mm_unpacklo_epi8(high, low));
    auto second = to_chars(_mm_unpackhi_epi8(high, low));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(w + 2 * i), first);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(w + 2 * i + 16), second);
  }
#endif
  for (; i < n; ++i)
    std::memcpy(w + 2 * i, &digit_pairs[2 * r[i]], 2);
}

} // namespace

size_t pack_hex_runs(std::string_view in, char* out) {
  auto n = in.size();
  auto words = (n + 63) / 64;
  // A map of which bytes are digits: skipping the short runs in words
  // ("orderId" holds three) one at a time cost more than the packing.
  std::array<uint64_t, 64> on_stack;
  std::vector<uint64_t> on_heap;
  auto* m = on_stack.data();
  if (words > on_stack.size()) {
    on_heap.resize(words);
    m = on_heap.data();
  }
  mark_digits(in, m);
  // Written through a pointer: appending to a string cost a tenth of the
  // packing in capacity checks. A run of 2d digits takes at most 2 + d
  // bytes (d >= 8), so the output never outgrows packed_bound.
  char* w = out;
  bool packed = false;
  size_t plain_from = 0; // start of the text not yet written
  size_t next = 0;       // where the next run may start
  for (size_t word = 0; word < words; ++word) {
    if (next >= (word + 1) * 64)
      continue;
    auto starts = long_runs(m, word, words);
    if (next > word * 64)
      starts &= ~uint64_t{0} << (next - word * 64);
    while (starts) {
      auto from = word * 64 + static_cast<size_t>(__builtin_ctzll(starts));
      auto end = run_end(m, from, n);
      auto digits = (end - from) & ~size_t{1};
      w = write_plain(w, in.substr(plain_from, from - plain_from));
      *w++ = static_cast<char>(marker);
      w = write_varint(w, digits / 2);
      pack_digits(reinterpret_cast<const unsigned char*>(in.data()) + from,
                  digits / 2, reinterpret_cast<unsigned char*>(w));
      w += digits / 2;
      packed = true;
      plain_from = from + digits;
      next = end;
      if (end >= (word + 1) * 64)
        break;
      starts &= ~uint64_t{0} << (end - word * 64);
    }
  }
  if (!packed)
    return 0;
  w = write_plain(w, in.substr(plain_from));
  return static_cast<size_t>(w - out);
}

std::string pack_hex_runs(std::string_view in) {
  std::string out(packed_bound(in.size()), '\0');
  out.resize(pack_hex_runs(in, out.data()));
  return out;
}

bool unpack_hex_runs(std::string_view in, size_t max_bytes, std::string& out) {
  // Every form at most doubles its bytes (a run of n bytes takes n + 2 or
  // more), so this much room is enough: written through a pointer, cut to
  // size at the end.
  auto room = std::min(2 * in.size(), max_bytes);
  out.assign(room, '\0');
  char* w = out.data();
  char* w_end = w + room;
  const char* p = in.data();
  const char* end = p + in.size();
  while (p < end) {
    auto* at = static_cast<const char*>(
      std::memchr(p, static_cast<char>(marker), static_cast<size_t>(end - p)));
    if (!at)
      at = end;
    auto plain = static_cast<size_t>(at - p);
    if (plain > static_cast<size_t>(w_end - w))
      return false;
    std::memcpy(w, p, plain);
    w += plain;
    if (at == end)
      break;
    p = at + 1;
    size_t n = 0;
    for (int shift = 0;; shift += 7) {
      // A run's length fits in 35 bits long before max_bytes stops it.
      if (p == end || shift > 28)
        return false;
      auto b = static_cast<unsigned char>(*p++);
      n |= static_cast<size_t>(b & 0x7F) << shift;
      if (!(b & 0x80))
        break;
    }
    if (n == 0) {
      if (w == w_end)
        return false;
      *w++ = static_cast<char>(marker);
      continue;
    }
    if (n > static_cast<size_t>(end - p)
        || 2 * n > static_cast<size_t>(w_end - w))
      return false;
    unpack_digits(reinterpret_cast<const unsigned char*>(p), n, w);
    w += 2 * n;
    p += n;
  }
  out.resize(static_cast<size_t>(w - out.data()));
  return true;
}

} // namespace solver_state
