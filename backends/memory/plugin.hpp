#pragma once

// The memory backend's plugin: state.type "memory".

#include <memory>
#include <string_view>

#include "backends/plugin.hpp"

namespace solver_state {

/// The "memory" plugin: one memory_store per shard, one key budget for all.
std::unique_ptr<state_backend_plugin> make_memory_plugin();

} // namespace solver_state
