#pragma once

// The one mapping from error code to HTTP status (docs/api.md, "Errors").

#include "messages/errors.hpp"

namespace solver_state::gateway {

/// The HTTP status for an error code; 500 for anything unknown.
unsigned http_status_of(state_errc code);

} // namespace solver_state::gateway
