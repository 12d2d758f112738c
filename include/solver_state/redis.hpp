#pragma once

// The Redis backend (find_package(solver_state COMPONENTS redis)): add
// make_redis_plugin() to your plugin_registry.

#include "backends/redis/plugin.hpp"
