#pragma once

// When a network backend loses its server, every operation must fail fast
// (backend_unavailable) instead of hanging, and the store must come back by
// itself once the server does. This decides when the next connection attempt
// is due: right away at first, then after exponentially growing pauses, so a
// dead server costs one failed connect per pause, not one per request.

#include <algorithm>
#include <chrono>

namespace solver_state {

class reconnect_backoff {
public:
  using clock = std::chrono::steady_clock;
  using duration = std::chrono::milliseconds;

  explicit reconnect_backoff(duration initial = duration{50},
                             duration max = duration{2'000})
    : initial_(initial), max_(max), delay_(initial) {}

  /// True when a connection attempt may be made now.
  bool due(clock::time_point now = clock::now()) const {
    return now >= next_attempt_;
  }

  /// An attempt (or a live connection) failed: wait before the next one.
  void failed(clock::time_point now = clock::now()) {
    next_attempt_ = now + delay_;
    delay_ = std::min(max_, delay_ * 2);
  }

  /// A connection succeeded: the next failure retries after `initial`.
  void succeeded() {
    delay_ = initial_;
    next_attempt_ = clock::time_point{};
  }

  /// Time left until the next attempt is due (zero if due).
  duration remaining(clock::time_point now = clock::now()) const {
    if (now >= next_attempt_)
      return duration{0};
    return std::chrono::duration_cast<duration>(next_attempt_ - now);
  }

private:
  duration initial_;
  duration max_;
  duration delay_;
  clock::time_point next_attempt_{};
};

} // namespace solver_state
