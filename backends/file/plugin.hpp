#pragma once

// Opening the file backend with an explicit file_env, so tests can run the
// whole backend over an injected failing disk. The "file" plugin calls it
// with the real filesystem.

#include <memory>

#include <caf/expected.hpp>

#include "backends/file/env.hpp"
#include "backends/plugin.hpp"

namespace solver_state {

/// The "file" plugin: open_file_stores over the real filesystem.
std::unique_ptr<state_backend_plugin> make_file_plugin();

/// Locks base_path, recovers it (tree + every log) and returns cfg.shards
/// stores. Refuses eviction: lru (it would silently delete durable keys).
caf::expected<store_list> open_file_stores(const state_config& cfg,
                                           std::shared_ptr<file_env> env);

} // namespace solver_state
