// CRC32C: the standard check value, incremental use, and the hardware and
// table paths agreeing on unaligned input.

#include <catch2/catch.hpp>

#include "util/crc32c.hpp"

using namespace solver_state;

TEST_CASE("crc32c gives the Castagnoli check value") {
  // The check value of CRC-32C (RFC 3720, appendix B.4) over "123456789".
  CHECK(crc32c(std::string_view{"123456789"}) == 0xE3069283u);
  CHECK(crc32c(std::string_view{}) == 0u);
  // 32 bytes of zeros, RFC 3720 B.4.
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
}

TEST_CASE("crc32c can be computed piece by piece") {
  std::string text = "the quick brown fox jumps over the lazy dog, twice over";
  auto whole = crc32c(text);
  for (size_t cut = 0; cut <= text.size(); cut += 7) {
    auto first = crc32c(std::string_view{text}.substr(0, cut));
    CHECK(crc32c(std::string_view{text}.substr(cut), first) == whole);
  }
}

TEST_CASE("crc32c is the same at every alignment") {
  std::string buf(64 + 8, 'x');
  for (size_t i = 0; i < buf.size(); ++i)
    buf[i] = static_cast<char>(i * 31 + 7);
  auto expected = crc32c(buf.data() + 8, 64);
  for (size_t off = 0; off < 8; ++off) {
    std::string copy(off, '\0');
    copy.append(buf.data() + 8, 64);
    CHECK(crc32c(copy.data() + off, 64) == expected);
  }
}
