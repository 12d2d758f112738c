// The shard's clock: monotonic between steps of the system clock, and
// re-anchored to it when it steps.
#include <chrono>

#include <catch2/catch.hpp>

#include "util/wall_clock.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

TEST_CASE("the wall clock follows the actor clock while the system clock "
          "agrees with it") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  auto clock = wall_clock::starting_now(t0);
  auto start = clock.at(t0);
  // A system reading 100 ms off (a slew, a slow read) keeps the sum.
  CHECK(clock.at(t0 + 5s, start + 5'100) == start + 5'000);
  CHECK(clock.steps() == 0);
}

TEST_CASE("the wall clock takes the system clock's time when it steps, "
          "forward or back") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  auto clock = wall_clock::starting_now(t0);
  auto start = clock.at(t0);
  // Set an hour forward (a clock an hour behind at boot, corrected).
  auto stepped = start + 1'000 + 3'600'000;
  CHECK(clock.at(t0 + 1s, stepped) == stepped);
  CHECK(clock.steps() == 1);
  CHECK(clock.last_step() == 3'600'000);
  // From there on the actor clock counts from the new time.
  CHECK(clock.at(t0 + 3s, stepped + 2'000) == stepped + 2'000);
  // And a step back is followed too.
  CHECK(clock.at(t0 + 4s, stepped + 3'000 - 60'000) == stepped - 57'000);
  CHECK(clock.steps() == 2);
  CHECK(clock.last_step() == -60'000);
}

TEST_CASE("a wall clock driven by a test's clock ignores the system "
          "clock") {
  auto t0 = std::chrono::steady_clock::time_point{} + 1000s;
  auto clock = wall_clock::starting_now(t0, false);
  auto start = clock.at(t0);
  CHECK(clock.at(t0 + 2h) == start + 7'200'000);
  CHECK(clock.steps() == 0);
}
