#pragma once

// A bound on how many lines of one kind the service logs per second, so a
// flood of failures (every request answered 503 while a backend is down)
// cannot fill the disk or drown the other lines; what was left out is
// counted and said by the next line that gets through.

#include <chrono>
#include <cstdint>
#include <mutex>

namespace solver_state::gateway {

class log_throttle {
public:
  using clock = std::chrono::steady_clock;

  explicit log_throttle(uint32_t per_second) : per_second_(per_second) {
  }

  /// True when a line may be written at `now`; then `left_out` is how many
  /// lines were refused since the last one written. Thread-safe.
  bool admit(clock::time_point now, uint64_t& left_out) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (now - window_start_ >= std::chrono::seconds{1}) {
      window_start_ = now;
      used_ = 0;
    }
    if (used_ >= per_second_) {
      ++left_out_;
      return false;
    }
    ++used_;
    left_out = left_out_;
    left_out_ = 0;
    return true;
  }

private:
  const uint32_t per_second_;
  std::mutex mtx_;
  clock::time_point window_start_{};
  uint32_t used_ = 0;
  uint64_t left_out_ = 0;
};

} // namespace solver_state::gateway
