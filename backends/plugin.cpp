// The plugin registry: plugins looked up by state.type or its URL scheme.

#include "backends/plugin.hpp"

namespace solver_state {

state_backend_plugin::~state_backend_plugin() = default;

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
