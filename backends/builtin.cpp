// The embedded backends every build has: memory and file.

#include "backends/file/plugin.hpp"
#include "backends/memory/plugin.hpp"
#include "backends/plugin.hpp"

namespace solver_state {

const plugin_registry& plugin_registry::builtin() {
  static const plugin_registry registry = [] {
    plugin_registry r;
    r.add(make_memory_plugin());
    r.add(make_file_plugin());
    return r;
  }();
  return registry;
}

} // namespace solver_state
