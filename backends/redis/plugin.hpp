#pragma once

// The Redis backend's plugin: state.type redis://... or
// redis-sentinel://... (hiredis).

#include <memory>
#include <string_view>

#include "backends/plugin.hpp"

namespace solver_state {

/// The plugin of state.type `scheme`://...: "redis" (redis://host:port/db)
/// or "redis-sentinel" (redis-sentinel://sentinels/master-name/db).
std::unique_ptr<state_backend_plugin>
make_redis_plugin(std::string_view scheme = "redis");

} // namespace solver_state
