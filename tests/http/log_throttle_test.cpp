// The bound on 5xx warn lines: at most N a second, the rest counted and
// reported by the next line let through.

#include <catch2/catch.hpp>

#include "http/log_throttle.hpp"

using solver_state::gateway::log_throttle;
using namespace std::chrono_literals;

TEST_CASE("a throttle lets N lines a second through and counts the rest") {
  log_throttle throttle{3};
  auto t0 = log_throttle::clock::time_point{} + 10s;
  uint64_t left_out = 99;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(throttle.admit(t0 + std::chrono::milliseconds{i}, left_out));
    CHECK(left_out == 0);
  }
  for (int i = 0; i < 5; ++i)
    CHECK_FALSE(throttle.admit(t0 + 500ms, left_out));
  // The next second: the first line through reports the five left out.
  REQUIRE(throttle.admit(t0 + 1s, left_out));
  CHECK(left_out == 5);
  REQUIRE(throttle.admit(t0 + 1001ms, left_out));
  CHECK(left_out == 0);
}
