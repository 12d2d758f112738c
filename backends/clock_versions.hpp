#pragma once

// Where an embedded store's versions start: above the wall clock in
// microseconds, so that even a wiped data directory never issues a version
// an old ETag still names (versions are compared for If-Match).

#include <chrono>

#include "messages/values.hpp"

namespace solver_state {

inline version_t clock_micros() {
  return static_cast<version_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

} // namespace solver_state
