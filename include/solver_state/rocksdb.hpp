#pragma once

// The RocksDB backend (find_package(solver_state COMPONENTS rocksdb)): add
// make_rocksdb_plugin() to your plugin_registry.

#include "backends/rocksdb/plugin.hpp"
