// The registry of every backend compiled into this build; the CMake options
// SOLVER_STATE_WITH_REDIS/POSTGRES/DYNAMODB/ROCKSDB define what it holds.

#include "backends/compiled_plugins.hpp"

#include "backends/file/plugin.hpp"
#include "backends/memory/plugin.hpp"
#if SOLVER_STATE_WITH_REDIS
#  include "backends/redis/plugin.hpp"
#endif
#if SOLVER_STATE_WITH_POSTGRES
#  include "backends/postgres/plugin.hpp"
#endif
#if SOLVER_STATE_WITH_DYNAMODB
#  include "backends/dynamodb/plugin.hpp"
#endif
#if SOLVER_STATE_WITH_ROCKSDB
#  include "backends/rocksdb/plugin.hpp"
#endif

namespace solver_state {

const plugin_registry& compiled_plugins() {
  static const plugin_registry registry = [] {
    plugin_registry r;
    r.add(make_memory_plugin());
    r.add(make_file_plugin());
#if SOLVER_STATE_WITH_ROCKSDB
    r.add(make_rocksdb_plugin());
#endif
#if SOLVER_STATE_WITH_REDIS
    r.add(make_redis_plugin());
    r.add(make_redis_plugin("redis-sentinel")); // the master via Sentinels
#endif
#if SOLVER_STATE_WITH_POSTGRES
    r.add(make_postgres_plugin());
#endif
#if SOLVER_STATE_WITH_DYNAMODB
    r.add(make_dynamodb_plugin());
    r.add(make_dynamodb_plugin("dynamodbs")); // the same backend over HTTPS
#endif
    return r;
  }();
  return registry;
}

} // namespace solver_state
