// Percent-decoding of path segments, query strings and connection URLs.

#include <catch2/catch.hpp>

#include "util/percent.hpp"

using namespace solver_state;

TEST_CASE("percent_decode decodes escapes and refuses malformed ones") {
  CHECK(percent_decode("a%20b%2Fc%3a") == std::optional<std::string>{"a b/c:"});
  CHECK(percent_decode("a+b") == std::optional<std::string>{"a+b"});
  CHECK(percent_decode("%00") == std::optional<std::string>{std::string(1, '\0')});
  CHECK_FALSE(percent_decode("%4"));
  CHECK_FALSE(percent_decode("%"));
  CHECK_FALSE(percent_decode("%zz"));
  CHECK(query_decode("a+b%2B") == std::optional<std::string>{"a b+"});
}

TEST_CASE("parse_query splits and decodes") {
  auto q = parse_query("prefix=order%3A&limit=10&&flag");
  REQUIRE(q);
  REQUIRE(q->size() == 3);
  CHECK((*q)[0].name == "prefix");
  CHECK((*q)[0].value == "order:");
  CHECK((*q)[1].value == "10");
  CHECK((*q)[2].name == "flag");
  CHECK((*q)[2].value.empty());
  CHECK_FALSE(parse_query("a=%zz"));
}

TEST_CASE("percent_encode keeps unreserved bytes and escapes the rest") {
  CHECK(percent_encode("order:eip7683:0x1") == "order%3Aeip7683%3A0x1");
  CHECK(percent_encode("a b/c+d") == "a%20b%2Fc%2Bd");
  CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
  CHECK(percent_encode(std::string{"\xff\x00", 2}) == "%FF%00");
  std::string every_byte;
  for (int c = 0; c < 256; ++c)
    every_byte += static_cast<char>(c);
  CHECK(percent_decode(percent_encode(every_byte))
        == std::optional<std::string>{every_byte});
  CHECK(query_decode(percent_encode("a+b c"))
        == std::optional<std::string>{"a+b c"});
}
