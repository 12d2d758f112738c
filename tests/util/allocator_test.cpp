// The allocator this build links, what it says it holds, and that what the
// program frees goes back to the kernel while the program idles.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

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

TEST_CASE("memory freed in small pieces goes back to the kernel while the "
          "program idles") {
  if (!allocator_is_jemalloc()) {
    // glibc's malloc gives back only the top of its heaps: nothing to check.
    SUCCEED("not jemalloc: " + allocator_name());
    return;
  }
  // 128 MiB in values of a store's size, then freed: the pages stay with
  // jemalloc (dirty) until it purges them.
  std::vector<std::unique_ptr<char[]>> pieces(128 * 1024);
  for (auto& piece : pieces) {
    piece = std::make_unique<char[]>(1024);
    std::memset(piece.get(), 1, 1024);
  }
  auto full = allocator_usage_now();
  REQUIRE(full);
  pieces.clear();
  pieces.shrink_to_fit();
  // Nothing allocates from here on: only jemalloc's background thread can
  // purge (util/jemalloc_conf.cpp), after dirty_decay_ms (10 s).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{40};
  auto now = allocator_usage_now();
  while (now && now->mapped + (96 << 20) > full->mapped
         && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    now = allocator_usage_now();
  }
  REQUIRE(now);
  INFO("mapped " << full->mapped << " bytes full, " << now->mapped
                 << " after the wait");
  CHECK(now->mapped + (96 << 20) <= full->mapped);
}
