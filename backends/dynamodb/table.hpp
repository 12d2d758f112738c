#pragma once

// The table's lifecycle: created on first use (pk S hash, k B range,
// on-demand billing), waited for until it serves; dropped by tests.

#include <chrono>
#include <string_view>

#include <caf/error.hpp>

#include "backends/dynamodb/api.hpp"

namespace solver_state::dynamodb {

/// True for a TableStatus in which DynamoDB serves reads and writes:
/// ACTIVE, and UPDATING (a capacity or billing change, a new index: AWS
/// keeps a table UPDATING for minutes, serving all along). CREATING,
/// DELETING, ARCHIVING, ARCHIVED and INACCESSIBLE_* do not serve.
bool table_serves(std::string_view status);

/// Makes sure the endpoint's table exists and serves (table_serves),
/// creating it if missing; waits at most `patience`. backend_error when the
/// table exists with another key schema.
caf::error ensure_table(api_client& api, std::chrono::milliseconds patience);

/// Deletes the table and waits until it is gone (tests empty the store so).
caf::error drop_table(api_client& api, std::chrono::milliseconds patience);

} // namespace solver_state::dynamodb
