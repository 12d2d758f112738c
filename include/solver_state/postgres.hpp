#pragma once

// The PostgreSQL backend (find_package(solver_state COMPONENTS postgres)):
// add make_postgres_plugin() to your plugin_registry.

#include "backends/postgres/plugin.hpp"
