#pragma once

// The seed's StateBackendPlugin: a named factory of stores, chosen by
// state.type ("memory", "file", or the scheme of a connection string such as
// redis://host:port/db).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/state_store.hpp"
#include "config/config.hpp"

namespace solver_state {

using store_list = std::vector<std::unique_ptr<state_store>>;

class state_backend_plugin {
public:
  virtual ~state_backend_plugin();

  /// The plugin's name, matched against state.type or its URL scheme.
  virtual std::string_view name() const = 0;

  /// True when the stores block on I/O (disk, network): their shard actors
  /// then run detached, off the CAF scheduler threads.
  virtual bool blocking() const = 0;

  /// One store per shard (cfg.shards of them). Fails with a clear message
  /// when cfg is unusable (bad URL, unreachable base path, ...).
  virtual caf::expected<store_list> create_stores(const state_config& cfg)
    = 0;
};

/// The plugins compiled into this build, looked up by state.type.
class plugin_registry {
public:
  /// The registry of every built-in plugin (built once, lives forever).
  static const plugin_registry& builtin();

  void add(std::unique_ptr<state_backend_plugin> plugin);

  /// The plugin for `type` ("memory", "file", "redis://..."), or nullptr.
  state_backend_plugin* find(std::string_view type) const;

  /// Names of all plugins, for error messages.
  std::string names() const;

private:
  std::vector<std::shared_ptr<state_backend_plugin>> plugins_;
};

/// The scheme of a connection string ("redis" of "redis://h:1/0"), or the
/// whole text when it has none ("memory").
std::string_view scheme_of(std::string_view type);

// -- built-in plugins (one factory per backend, defined next to it) --------------

std::unique_ptr<state_backend_plugin> make_memory_plugin();
std::unique_ptr<state_backend_plugin>
make_dynamodb_plugin(std::string_view scheme = "dynamodb");
std::unique_ptr<state_backend_plugin> make_redis_plugin();
std::unique_ptr<state_backend_plugin> make_postgres_plugin();
std::unique_ptr<state_backend_plugin> make_file_plugin();

} // namespace solver_state
