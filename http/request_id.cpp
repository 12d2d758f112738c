// X-Request-Id: validation of the client's id and a per-thread generator.

#include "http/request_id.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>

namespace solver_state::gateway {

namespace {

/// splitmix64: a few arithmetic operations per id, good enough statistics
/// for log correlation. Seeded once per thread from random_device, the
/// clock and the thread, so threads and restarts do not repeat each other.
class id_generator {
public:
  id_generator() {
    std::random_device rd;
    state_ = (uint64_t{rd()} << 32) ^ rd()
             ^ static_cast<uint64_t>(
               std::chrono::steady_clock::now().time_since_epoch().count())
             ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
  }

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

private:
  uint64_t state_ = 0;
};

} // namespace

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > max_request_id_bytes)
    return false;
  for (unsigned char c : id)
    if (c < 0x21 || c > 0x7E)
      return false;
  return true;
}

std::string generate_request_id() {
  thread_local id_generator gen;
  static constexpr char hex[] = "0123456789abcdef";
  auto v = gen.next();
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4)
    out[static_cast<size_t>(i)] = hex[v & 0xF];
  return out;
}

std::string request_id_for(const std::string_view* client) {
  if (client && acceptable_request_id(*client))
    return std::string{*client};
  return generate_request_id();
}

} // namespace solver_state::gateway
