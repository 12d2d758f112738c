#pragma once

// Wall-clock time as an actor sees it. TTLs are absolute Unix milliseconds
// (they survive restarts, and other instances of a shared engine read them
// by their own wall clock), but actors read time from their actor clock so
// tests can drive it (the test coordinator's advance_time).

#include <chrono>
#include <cstdint>

#include "messages/values.hpp"

namespace solver_state {

/// The wall clock now, in Unix milliseconds: for code outside an actor's
/// clock (threads of detached actors, engine feeds, the gateway).
inline unix_ms unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The shard's "now": the wall clock read at start plus the actor clock's
/// elapsed time, so that a test's clock drives it, re-anchored to the
/// system clock whenever the two part by more than `max_skew`: an NTP step,
/// an operator's fix, a suspended or restored VM. Without that, a clock set
/// right after start left every TTL the shard wrote an hour off, and live
/// orders expired at the next restart. Small differences (an NTP slew, the
/// read itself) keep the monotonic sum.
class wall_clock {
public:
  using steady_point = std::chrono::steady_clock::time_point;

  static constexpr unix_ms max_skew = 250;

  wall_clock() = default;

  /// `follow_system`: false under a test's clock, which moves only when
  /// the test advances it.
  static wall_clock starting_now(steady_point actor_now,
                                 bool follow_system = true) {
    wall_clock c;
    c.origin_ms_ = unix_now_ms();
    c.origin_ = actor_now;
    c.follow_system_ = follow_system;
    return c;
  }

  unix_ms at(steady_point actor_now) {
    return at(actor_now, follow_system_ ? unix_now_ms() : 0);
  }

  /// at() with the system clock's reading given (for tests).
  unix_ms at(steady_point actor_now, unix_ms system) {
    auto ms = elapsed_since_origin(actor_now);
    if (!follow_system_)
      return ms;
    if (system - ms > max_skew || ms - system > max_skew) {
      last_step_ = system - ms;
      ++steps_;
      origin_ms_ = system;
      origin_ = actor_now;
      return system;
    }
    return ms;
  }

  /// How often the system clock was seen to step, and by how much the
  /// last time (milliseconds, negative when it went back).
  uint64_t steps() const {
    return steps_;
  }
  unix_ms last_step() const {
    return last_step_;
  }

private:
  unix_ms elapsed_since_origin(steady_point actor_now) const {
    return origin_ms_
           + std::chrono::duration_cast<std::chrono::milliseconds>(actor_now
                                                                   - origin_)
               .count();
  }

  unix_ms origin_ms_ = 0;
  steady_point origin_{};
  bool follow_system_ = true;
  uint64_t steps_ = 0;
  unix_ms last_step_ = 0;
};

} // namespace solver_state
