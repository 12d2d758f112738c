// The Redis change messages as the feed parses them: what the scripts and
// MULTI writes publish (scripts.hpp, "Change messages"), and what is not one.

#include <catch2/catch.hpp>

#include "backends/redis/feed.hpp"

using namespace solver_state;

TEST_CASE("a put message: version, expiry, a key with colons, any value") {
  change_event ev;
  const char raw[] = "p42:1700000000000:7:order:1a:b\nc\0d\0";
  std::string message{raw, sizeof raw - 1}; // the value's NULs included
  REQUIRE(parse_redis_change(message, ev));
  CHECK(ev.why() == change_cause::put);
  CHECK(ev.version == 42);
  CHECK(ev.expires_at_ms == 1700000000000);
  CHECK(ev.key == "order:1");
  CHECK(ev.value == std::string{"a:b\nc\0d\0", 8});
  change_event empty;
  REQUIRE(parse_redis_change("p7:0:1:kk", empty));
  CHECK(empty.key == "k");
  CHECK(empty.value == "k");
  REQUIRE(parse_redis_change("p7:0:1:k", empty));
  CHECK(empty.value.empty());
}

TEST_CASE("a delete message names the key") {
  change_event ev;
  REQUIRE(parse_redis_change("dstate:{q}:nonce", ev));
  CHECK(ev.why() == change_cause::del);
  CHECK(ev.key == "state:{q}:nonce");
}

TEST_CASE("what is not a change message is refused") {
  change_event ev;
  for (std::string bad : {"", "d", "x1:k", "p", "p1", "p1:2", "p1:2:3",
                          "pa:0:1:k", "p1:-2:1:k", "p1:0:0:", "p1:0:5:key",
                          "p1:0:1x:k", "p99999999999999999999:0:1:k",
                          "hello"}) {
    INFO(bad);
    CHECK_FALSE(parse_redis_change(bad, ev));
  }
}
