#pragma once

// The table's lifecycle: created on first use (pk S hash, k B range,
// on-demand billing), waited for until ACTIVE; dropped by tests.

#include <chrono>

#include <caf/error.hpp>

#include "backends/dynamodb/api.hpp"

namespace solver_state::dynamodb {

/// Makes sure the endpoint's table exists and is ACTIVE, creating it if
/// missing; waits at most `patience`. backend_error when the table exists
/// with another key schema.
caf::error ensure_table(api_client& api, std::chrono::milliseconds patience);

/// Deletes the table and waits until it is gone (tests empty the store so).
caf::error drop_table(api_client& api, std::chrono::milliseconds patience);

} // namespace solver_state::dynamodb
