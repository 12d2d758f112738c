#pragma once

// Memory held until the process exits, never destroyed.

#include <memory>

namespace solver_state {

/// Holds `memory` until the process exits without ever destroying it: for
/// what a destructor must not do (close a failed shard's store) or need not
/// do (free a closed store, which the exit returns to the kernel at once).
/// It stays reachable, so leak checkers do not report it. Thread-safe.
void keep_until_exit(std::shared_ptr<void> memory);

} // namespace solver_state
