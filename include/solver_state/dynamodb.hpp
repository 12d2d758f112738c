#pragma once

// The DynamoDB backend (find_package(solver_state COMPONENTS dynamodb)): add
// make_dynamodb_plugin() to your plugin_registry.

#include "backends/dynamodb/plugin.hpp"
