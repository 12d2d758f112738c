// The allocator this build links, and what it says it holds.

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>

#include "util/allocator.hpp"

using namespace solver_state;

TEST_CASE("the allocator is the one this build links") {
  CHECK(allocator_name().rfind(SOLVER_STATE_EXPECTED_ALLOCATOR, 0) == 0);
}

TEST_CASE("the allocator's counts follow what the process holds") {
  auto before = allocator_usage_now();
#ifdef __SANITIZE_ADDRESS__
  CHECK_FALSE(before); // ASan's quarantine keeps what is freed
  return;
#endif
  REQUIRE(before);
  CHECK(before->mapped >= before->allocated);
  constexpr size_t size = 64 << 20;
  auto block = std::make_unique<char[]>(size);
  std::memset(block.get(), 1, size); // resident, not only reserved
  auto during = allocator_usage_now();
  REQUIRE(during);
  CHECK(during->allocated >= before->allocated + size);
  CHECK(during->mapped >= before->mapped + size);
  block.reset();
  auto after = allocator_usage_now();
  REQUIRE(after);
  CHECK(after->allocated + size <= during->allocated);
}
