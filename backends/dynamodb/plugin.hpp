#pragma once

// The DynamoDB backend's plugin: state.type dynamodb://host:port/table.

#include <memory>
#include <string_view>

#include "backends/plugin.hpp"

namespace solver_state {

/// The DynamoDB plugin under `scheme`: "dynamodb" (HTTP) or "dynamodbs"
/// (the same backend over HTTPS).
std::unique_ptr<state_backend_plugin>
make_dynamodb_plugin(std::string_view scheme = "dynamodb");

} // namespace solver_state
