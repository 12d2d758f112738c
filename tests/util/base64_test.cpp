// Base64, standard and URL-safe: RFC 4648 vectors, every byte value, and
// malformed input.

#include <catch2/catch.hpp>

#include "util/base64.hpp"

using namespace solver_state;

TEST_CASE("base64 matches RFC 4648 test vectors") {
  std::pair<const char*, const char*> vectors[] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
    {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    CHECK(base64_encode(plain) == encoded);
    CHECK(base64_decode(encoded) == std::optional<std::string>{plain});
  }
}

TEST_CASE("base64 round-trips every byte value, standard and URL-safe") {
  std::string bytes;
  for (int i = 0; i < 256; ++i)
    bytes += static_cast<char>(i);
  for (size_t n = 0; n <= bytes.size(); n += 37) {
    auto part = bytes.substr(0, n);
    CHECK(base64_decode(base64_encode(part)) == std::optional<std::string>{part});
    CHECK(base64url_decode(base64url_encode(part))
          == std::optional<std::string>{part});
  }
  auto url = base64url_encode(bytes);
  CHECK(url.find_first_of("+/=") == std::string::npos);
}

TEST_CASE("malformed base64 is refused") {
  for (auto bad : {"Zg=", "Z===", "Zm9v!A==", "=Zm9", "Zg==Zg==", "Zm=v",
                   "Zm9vYmE" /* missing padding */})
    CHECK_FALSE(base64_decode(bad));
  CHECK_FALSE(base64url_decode("Zg=="));
  CHECK_FALSE(base64url_decode("Zh")); // non-canonical trailing bits
}
