#pragma once

// The Redis backend's plugin: state.type redis://... (hiredis).

#include <memory>
#include <string_view>

#include "backends/plugin.hpp"

namespace solver_state {

/// The "redis" plugin (state.type redis://host:port/db?options).
std::unique_ptr<state_backend_plugin> make_redis_plugin();

} // namespace solver_state
