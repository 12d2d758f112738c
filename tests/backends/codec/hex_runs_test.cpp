// The hex-run packing under the codec's zstd: every input comes back byte
// for byte, what it packs and what it leaves, and inputs it never wrote.

#include <cstring>
#include <memory>
#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "backends/codec/hex_runs.hpp"

using namespace solver_state;

namespace {

constexpr size_t no_limit = size_t{1} << 30;

std::string unpacked(std::string_view packed) {
  std::string out;
  REQUIRE(unpack_hex_runs(packed, no_limit, out));
  return out;
}

/// The input again after a round trip (packed or kept as it is).
std::string round_trip(const std::string& in) {
  auto packed = pack_hex_runs(in);
  return packed.empty() ? in : unpacked(packed);
}

/// The format written out by hand, one byte at a time: what the packer's
/// word-at-a-time scan must agree with.
std::string reference_pack(const std::string& in) {
  auto digit = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  };
  auto value = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  bool packed = false;
  for (size_t i = 0; i < in.size();) {
    size_t end = i;
    while (end < in.size() && digit(in[end]))
      ++end;
    size_t digits = (end - i) & ~size_t{1};
    if (digits >= min_packed_digits) {
      packed = true;
      out.push_back('\xF5');
      for (size_t n = digits / 2;; n >>= 7) {
        out.push_back(static_cast<char>(n >= 0x80 ? 0x80 | (n & 0x7F) : n));
        if (n < 0x80)
          break;
      }
      for (size_t k = i; k < i + digits; k += 2)
        out.push_back(static_cast<char>(value(in[k]) << 4 | value(in[k + 1])));
      i += digits;
    } else if (end > i) {
      out.append(in, i, end - i);
      i = end;
    } else {
      out.push_back(in[i]);
      if (in[i] == '\xF5')
        out.push_back('\0');
      ++i;
    }
  }
  return packed ? out : std::string{};
}

} // namespace

TEST_CASE("runs of 16 hex digits and more are packed two to a byte, "
          "shorter ones stay as they are") {
  auto hash = std::string(64, 'a') + "0123456789abcdef";
  auto packed = pack_hex_runs("{\"id\":\"0x" + hash + "\"}");
  CHECK(packed == "{\"id\":\"0x\xF5" + std::string{"\x28"}
                    + std::string(32, '\xAA')
                    + "\x01\x23\x45\x67\x89\xAB\xCD\xEF\"}");
  CHECK(unpacked(packed) == "{\"id\":\"0x" + hash + "\"}");
  // 15 digits, upper case, and words: nothing worth packing.
  CHECK(pack_hex_runs("123456789abcdef").empty());
  CHECK(pack_hex_runs(std::string(64, 'A')).empty());
  CHECK(pack_hex_runs("{\"orderId\":\"feed\",\"deadline\":1767225600}").empty());
  // An odd run leaves its last digit as it is.
  auto odd = std::string(17, '7');
  CHECK(pack_hex_runs(odd) == "\xF5\x08" + std::string(8, '\x77') + "7");
  CHECK(round_trip(odd) == odd);
}

TEST_CASE("the marker byte in a value is escaped, and a run's length takes "
          "as many varint bytes as it needs") {
  auto text = std::string{"\xF5"} + std::string(16, 'c') + "\xF5\xF5";
  auto packed = pack_hex_runs(text);
  CHECK(packed == std::string{"\xF5\x00\xF5\x08", 4} + std::string(8, '\xCC')
                    + std::string{"\xF5\x00\xF5\x00", 4});
  CHECK(unpacked(packed) == text);
  auto long_run = std::string(2 * 300, 'e'); // 300 bytes: two varint bytes
  packed = pack_hex_runs(long_run);
  CHECK(packed.substr(0, 3) == "\xF5\xAC\x02");
  CHECK(packed.size() == 3 + 300);
  CHECK(unpacked(packed) == long_run);
}

TEST_CASE("random mixes of digits, letters and binary round-trip and match "
          "the byte-at-a-time reference, at every length and offset") {
  std::mt19937_64 rng{GENERATE(1, 2, 3)};
  const std::string alphabets[] = {"0123456789abcdef", "0123456789abcdefx\"",
                                   "0123456789abcdefABCDEF:,{} \xF5"};
  for (int i = 0; i < 3000; ++i) {
    auto& alphabet = alphabets[rng() % 3];
    std::string in;
    auto size = rng() % (i < 2000 ? 200 : 5000);
    while (in.size() < size) {
      // Runs of one character class, so long runs happen at any offset.
      auto run = 1 + rng() % 40;
      bool hex = rng() % 2;
      for (size_t k = 0; k < run && in.size() < size; ++k)
        in.push_back(hex ? "0123456789abcdef"[rng() % 16]
                         : rng() % 8 == 0 ? static_cast<char>(rng())
                                          : alphabet[rng() % alphabet.size()]);
    }
    INFO("input of " << in.size() << " bytes, case " << i);
    REQUIRE(pack_hex_runs(in) == reference_pack(in));
    REQUIRE(round_trip(in) == in);
  }
}

TEST_CASE("packed text it never wrote is refused, never read past its end") {
  std::string out;
  auto refused = [&](std::string_view bytes, size_t limit = no_limit) {
    return !unpack_hex_runs(bytes, limit, out);
  };
  CHECK(refused("\xF5"));                      // a marker cut short
  CHECK(refused("ab\xF5\x80"));                // a varint cut short
  CHECK(refused("\xF5\x10\xAA\xBB"));          // 16 bytes announced, 2 there
  CHECK(refused("\xF5\xFF\xFF\xFF\xFF\xFF\x01")); // a length past 35 bits
  CHECK(refused(std::string{"\xF5\x00", 2} + "x", 1)); // past max_bytes
  CHECK(refused("\xF5\x04\x01\x02\x03\x04", 7));
  CHECK(unpack_hex_runs("\xF5\x04\x01\x02\x03\x04", 8, out));
  CHECK(out == "01020304");
  CHECK(unpack_hex_runs("", 0, out));
  CHECK(out.empty());
}

TEST_CASE("any bytes at all: unpacking either fails or stays within its "
          "limit, and never reads past its input") {
  // Under the sanitizers (CI's second build), a read past the input fails.
  std::mt19937_64 rng{GENERATE(11, 12)};
  std::string out;
  for (int i = 0; i < 20'000; ++i) {
    std::string junk(rng() % 48, '\0');
    for (auto& c : junk)
      c = rng() % 3 == 0 ? '\xF5'
                         : static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 40);
    // A heap block exactly as long as the input, so that the sanitizers
    // see a read past it (a short std::string would hold it in place).
    auto exact = std::make_unique<char[]>(junk.size());
    std::memcpy(exact.get(), junk.data(), junk.size());
    auto limit = static_cast<size_t>(rng() % 200);
    if (unpack_hex_runs({exact.get(), junk.size()}, limit, out))
      REQUIRE(out.size() <= limit);
  }
}

TEST_CASE("packing into a caller's buffer stays within packed_bound, even "
          "for inputs made of markers") {
  // The codec packs into a scratch buffer of packed_bound bytes: the bytes
  // after it are guards that must come through untouched.
  std::mt19937_64 rng{GENERATE(21, 22)};
  constexpr size_t guard = 64;
  for (int i = 0; i < 3'000; ++i) {
    // Markers (each written as two bytes) around one to a few runs of
    // exactly 16 digits (the shortest packed, the least saved): near the
    // bound, and packed, so written at all.
    std::string in(rng() % 600, '\xF5');
    auto runs = 1 + rng() % 3;
    for (size_t r = 0; r < runs; ++r) {
      std::string run;
      for (int k = 0; k < 16; ++k)
        run.push_back("0123456789abcdef"[rng() % 16]);
      in.insert(rng() % (in.size() + 1), run);
    }
    auto bound = packed_bound(in.size());
    auto buffer = std::make_unique<char[]>(bound + guard);
    std::memset(buffer.get() + bound, 0x5A, guard);
    auto n = pack_hex_runs(in, buffer.get());
    INFO("input of " << in.size() << " bytes, case " << i);
    REQUIRE(n <= bound);
    REQUIRE(std::string(buffer.get(), n) == reference_pack(in));
    for (size_t k = 0; k < guard; ++k)
      REQUIRE(buffer[bound + k] == 0x5A);
  }
}
