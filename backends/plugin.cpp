// The plugin registry: plugins looked up by state.type or its URL scheme.

#include "backends/plugin.hpp"

#include <algorithm>

#include "backends/codec/coded_store.hpp"
#include "backends/connection_url.hpp"
#include "messages/errors.hpp"

namespace solver_state {

state_backend_plugin::~state_backend_plugin() = default;

caf::error state_backend_plugin::check(const state_config&) const {
  return {};
}

watch_support state_backend_plugin::watches(const state_config&) const {
  return {};
}

caf::expected<std::unique_ptr<change_feed>>
state_backend_plugin::open_change_feed(const state_config&) const {
  return make_state_error(state_errc::backend_error,
                          "this backend has no change feed");
}

bool state_backend_plugin::shared(const state_config&) const {
  return false;
}

change_feed::~change_feed() = default;

caf::expected<std::vector<std::pair<std::string, unix_ms>>>
change_feed::expiries(size_t) {
  return std::vector<std::pair<std::string, unix_ms>>{};
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

namespace {

bool is_embedded(std::string_view name) {
  return name == "memory" || name == "file" || name == "rocksdb";
}

/// A network backend's type must be a URL: parse it as the plugin will
/// (the plugin's own parser reads the parts; this refuses what no parser
/// could read), without connecting.
void check_url(const state_config& cfg, std::string_view plugin,
               std::vector<std::string>& problems) {
  if (is_embedded(plugin))
    return;
  auto shown = redact_password(cfg.type);
  if (cfg.type.find("://") == std::string::npos) {
    problems.push_back("state.type: '" + shown + "' must be a URL, "
                       + std::string{plugin} + "://host:port/...");
    return;
  }
  if (auto url = parse_connection_url(cfg.type); !url)
    problems.push_back("state.type: malformed URL '" + shown
                       + "': " + message_of(url.error()));
}

/// Combinations the plugins refuse at start-up, found before connecting.
void check_combinations(const state_config& cfg, std::string_view plugin,
                        std::vector<std::string>& problems) {
  // Only RAM may drop keys to make room: file would delete durable keys,
  // and redis/postgresql/dynamodb cannot pick a victim across clients.
  if (cfg.eviction == eviction_policy::lru && plugin != "memory")
    problems.push_back("state.eviction: lru works only with type: memory, "
                       "not with the " + std::string{plugin}
                       + " backend; use eviction: reject");
  // Mirrors backends/dynamodb/plugin.cpp, which refuses a limit it cannot
  // enforce (no atomic item count) rather than ignore it.
  if (cfg.max_items != 0 && plugin.substr(0, 8) == "dynamodb")
    problems.push_back("state.max_items: the dynamodb backend cannot enforce "
                       "a key limit; set state.max_items: 0 (unlimited), got "
                       + std::to_string(cfg.max_items));
}

} // namespace

std::vector<std::string> check_state_config(const plugin_registry& plugins,
                                            const state_config& cfg) {
  std::vector<std::string> problems;
  if (cfg.type.empty())
    return problems; // validate() reports it
  auto* plugin = plugins.find(cfg.type);
  if (plugin == nullptr) {
    problems.push_back("state.type: unknown backend '"
                       + redact_password(cfg.type) + "' (this build has: "
                       + plugins.names() + ")");
    return problems;
  }
  check_url(cfg, plugin->name(), problems);
  if (auto err = check_codec_config(cfg))
    problems.push_back(message_of(err));
  check_combinations(cfg, plugin->name(), problems);
  if (auto err = plugin->check(cfg)) {
    // Plugin messages name their field ("state.max_items: ...") or not.
    auto why = message_of(err);
    problems.push_back(why.rfind("state.", 0) == 0 ? why
                                                   : "state.type: " + why);
  }
  return problems;
}

std::vector<std::string> check_cluster_storage(const plugin_registry& plugins,
                                               const state_config& state,
                                               const node_config& node) {
  std::vector<std::string> problems;
  auto* plugin = plugins.find(state.type);
  if (plugin == nullptr || !plugin->shared(state))
    return problems;
  auto shown = redact_password(state.type);
  if (!node.members.empty())
    problems.push_back(
      "node.members: a partitioned cluster keeps each key on one node's own "
      "store, and state.type '" + shown + "' is an engine every node "
      "shares: moving keys between members would delete them from it. "
      "Run the nodes without node.members, each on the same state.type "
      "(shared-engine mode, docs/high-availability.md)");
  else if (!node.listen.empty()
           && std::find(node.peers.begin(), node.peers.end(), node.listen)
                != node.peers.end())
    problems.push_back(
      "node.peers: lists this node's node.listen '" + node.listen
      + "', making it a store node of a partitioned cluster, and state.type '"
      + shown + "' is an engine every node shares: moving keys between "
      "nodes would delete them from it. Run the nodes without node.peers, "
      "each on the same state.type (shared-engine mode, "
      "docs/high-availability.md)");
  return problems;
}

std::string_view scheme_of(std::string_view type) {
  auto pos = type.find("://");
  return pos == std::string_view::npos ? type : type.substr(0, pos);
}

} // namespace solver_state
