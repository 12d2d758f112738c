// The change trigger's NOTIFY payloads as the PostgreSQL feed parses them
// (schema.cpp, change_trigger), and what is not one.

#include <catch2/catch.hpp>

#include "backends/postgres/feed.hpp"

using namespace solver_state;

TEST_CASE("a put payload: hex key, base64 value broken into lines") {
  postgres_change c;
  // PostgreSQL's encode(..., 'base64') breaks lines every 76 characters.
  std::string value(100, 'v');
  std::string b64 = "dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2"
                    "dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2\n"
                    "dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dnZ2dg==";
  REQUIRE(parse_postgres_change("p17:0:6b3a31:" + b64, c));
  CHECK(c.event.why() == change_cause::put);
  CHECK(c.event.version == 17);
  CHECK(c.event.expires_at_ms == 0);
  CHECK(c.event.key == "k:1");
  CHECK(c.event.value == value);
  CHECK_FALSE(c.value_left_out);
}

TEST_CASE("a value too large for the payload is left out, to be read back") {
  postgres_change c;
  REQUIRE(parse_postgres_change("p5:1700000000000:6b:?", c));
  CHECK(c.value_left_out);
  CHECK(c.event.key == "k");
  CHECK(c.event.expires_at_ms == 1700000000000);
}

TEST_CASE("deletes and expiries carry the old version and the key") {
  postgres_change d;
  REQUIRE(parse_postgres_change("d9:6b", d));
  CHECK(d.event.why() == change_cause::del);
  CHECK(d.event.key == "k");
  postgres_change x;
  REQUIRE(parse_postgres_change("x9:6b", x));
  CHECK(x.event.why() == change_cause::expire);
}

TEST_CASE("what is not a change payload is refused") {
  for (std::string bad : {"", "d", "d9", "d9:", "d9:6", "d9:zz", "dx:6b",
                          "p1:0:6b", "p1:0:6g:", "p1:-5:6b:?", "p1:0:6b:not base64!",
                          "q1:6b", "p:0:6b:?"}) {
    INFO(bad);
    postgres_change c;
    CHECK_FALSE(parse_postgres_change(bad, c));
  }
}
