#pragma once

// The "rocksdb" plugin (state.type: rocksdb): an embedded engine for stores
// that outgrow a file per key. See docs/rocksdb-backend.md.

#include <memory>

#include "backends/plugin.hpp"

namespace solver_state {

std::unique_ptr<state_backend_plugin> make_rocksdb_plugin();

} // namespace solver_state
