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
