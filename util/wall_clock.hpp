#pragma once

// Wall-clock time as an actor sees it. TTLs are absolute Unix milliseconds
// (they survive restarts), but actors must read time from their actor clock
// so tests can drive it (the test coordinator's advance_time). So: remember
// the wall clock once at start, then add the actor clock's elapsed time.

#include <chrono>

#include "messages/values.hpp"

namespace solver_state {

/// The wall clock now, in Unix milliseconds: for code outside an actor's
/// clock (threads of detached actors, engine feeds, the gateway).
inline unix_ms unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

class wall_clock {
public:
  using steady_point = std::chrono::steady_clock::time_point;

  wall_clock() = default;

  static wall_clock starting_now(steady_point actor_now) {
    wall_clock c;
    c.origin_ms_ = unix_now_ms();
    c.origin_ = actor_now;
    return c;
  }

  unix_ms at(steady_point actor_now) const {
    return origin_ms_
           + std::chrono::duration_cast<std::chrono::milliseconds>(actor_now
                                                                   - origin_)
               .count();
  }

private:
  unix_ms origin_ms_ = 0;
  steady_point origin_{};
};

} // namespace solver_state
