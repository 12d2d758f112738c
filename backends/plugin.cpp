#include "backends/plugin.hpp"

namespace solver_state {

state_backend_plugin::~state_backend_plugin() = default;

const plugin_registry& plugin_registry::builtin() {
  static const plugin_registry registry = [] {
    plugin_registry r;
    r.add(make_memory_plugin());
    r.add(make_file_plugin());
    r.add(make_redis_plugin());
    r.add(make_postgres_plugin());
    r.add(make_dynamodb_plugin());
    r.add(make_dynamodb_plugin("dynamodbs")); // the same backend over HTTPS
    return r;
  }();
  return registry;
}

void plugin_registry::add(std::unique_ptr<state_backend_plugin> plugin) {
  plugins_.emplace_back(std::move(plugin));
}

state_backend_plugin* plugin_registry::find(std::string_view type) const {
  auto scheme = scheme_of(type);
  for (auto& plugin : plugins_)
    if (plugin->name() == scheme)
      return plugin.get();
  return nullptr;
}

std::string plugin_registry::names() const {
  std::string out;
  for (auto& plugin : plugins_) {
    if (!out.empty())
      out += ", ";
    out += plugin->name();
  }
  return out;
}

std::string_view scheme_of(std::string_view type) {
  auto pos = type.find("://");
  return pos == std::string_view::npos ? type : type.substr(0, pos);
}

} // namespace solver_state
