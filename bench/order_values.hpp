#pragma once

// The orders the query benchmarks write: what a solver stores, ~200 bytes
// of JSON with a status (1 in 100 pending) and a deadline to index.

#include <cstddef>
#include <random>
#include <string>

namespace solver_state::bench {

inline std::string order_value(size_t i, std::mt19937_64& rng) {
  auto status = i % 100 == 0 ? "pending" : "filled";
  return std::string{R"({"status":")"} + status + R"(","deadline":)"
         + std::to_string(1'800'000'000 + rng() % 10'000'000)
         + R"(,"amount":")" + std::to_string(rng()) + std::to_string(rng())
         + R"(","user":"0x)" + std::to_string(rng()) + std::to_string(rng())
         + R"(","route":{"from":"eth","to":"base"}})";
}

} // namespace solver_state::bench
