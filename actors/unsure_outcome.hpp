#pragma once

// Whether a write or transaction that failed may have been applied all the
// same: the shard reads its keys into the indexes again, and so do the
// other shards of a transaction on a shared engine.

#include <caf/error.hpp>

#include "messages/errors.hpp"

namespace solver_state {

/// True when the outcome is unknown rather than refused before it ran: a
/// timeout, a backend gone mid-call (a connection lost after the command
/// went out), an engine's error after the write (Redis made it but too few
/// replicas acknowledged it), an I/O error. A condition, a limit or a full
/// store applied nothing.
inline bool may_have_applied(const caf::error& err) {
  switch (code_of(err)) {
    case state_errc::timeout:
    case state_errc::backend_unavailable:
    case state_errc::backend_error:
    case state_errc::io_error:
      return true;
    default:
      return false;
  }
}

} // namespace solver_state
