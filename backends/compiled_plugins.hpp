#pragma once

// Every backend plugin this build was configured with: the embedded ones and
// each network backend whose SOLVER_STATE_WITH_* option was on.

#include "backends/plugin.hpp"

namespace solver_state {

/// The registry of every compiled-in plugin (built once, lives forever).
const plugin_registry& compiled_plugins();

} // namespace solver_state
