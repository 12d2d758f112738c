#pragma once

// The PostgreSQL backend's plugin: state.type postgresql://... (libpq).

#include <memory>
#include <string_view>

#include "backends/plugin.hpp"

namespace solver_state {

/// The "postgresql" plugin (state.type postgresql://... or postgres://...).
std::unique_ptr<state_backend_plugin> make_postgres_plugin();

} // namespace solver_state
