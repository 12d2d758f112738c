#pragma once

// Starting and stopping a store inside a CAF program: start_store() over a
// plugin registry (plugin_registry::builtin() has memory and file).

#include "actors/store.hpp"
#include "backends/plugin.hpp"
