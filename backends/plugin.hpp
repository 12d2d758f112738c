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

#include "backends/change_feed.hpp"
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

  /// What create_stores() would refuse about `cfg`, found without
  /// connecting or opening files (its URL's own rules, say), so that
  /// --check-config refuses it too. The default accepts everything: a
  /// plugin whose create_stores() refuses more overrides it.
  virtual caf::error check(const state_config& cfg) const;

  /// Where watches of a store of `cfg` get their changes. The default,
  /// `shards`, suits engines that only this node writes; an engine that
  /// several nodes may share answers `engine_feed` (and opens one with
  /// open_change_feed) or `refused` with the reason.
  virtual watch_support watches(const state_config& cfg) const;

  /// The engine's change feed for `cfg`, not yet started; only asked when
  /// watches() says `engine_feed`.
  virtual caf::expected<std::unique_ptr<change_feed>>
  open_change_feed(const state_config& cfg) const;

  /// True when the data of a store of `cfg` lives in an engine that other
  /// solver-state processes may reach too (one Redis database, one
  /// PostgreSQL table, one DynamoDB table): it is not this node's alone,
  /// so it must never be partitioned over cluster members, whose handoff
  /// drops the copies a node hands over. The default, false, suits engines
  /// only this process opens (memory, file, rocksdb).
  virtual bool shared(const state_config& cfg) const;
};

/// Plugins looked up by state.type.
class plugin_registry {
public:
  /// The embedded backends, memory and file, which need nothing but this
  /// library (built once, lives forever). Programs that want a network
  /// backend add its plugin (backends/redis/plugin.hpp, ...) to a registry
  /// of their own, or use compiled_plugins() (backends/compiled_plugins.hpp).
  static const plugin_registry& builtin();

  void add(std::unique_ptr<state_backend_plugin> plugin);

  /// The plugin for `type` ("memory", "file", "redis://..."), or nullptr.
  state_backend_plugin* find(std::string_view type) const;

  /// Names of all plugins, for error messages.
  std::string names() const;

private:
  std::vector<std::shared_ptr<state_backend_plugin>> plugins_;
};

/// What start-up refuses about `cfg` before it connects, one problem a line
/// ("state.type: ..."): a type no plugin of `plugins` serves, a connection
/// URL that does not parse, and combinations the backend cannot honour
/// (eviction: lru beyond memory, max_items with dynamodb). --check-config
/// and start-up both run it, so they accept and refuse the same configs.
std::vector<std::string> check_state_config(const plugin_registry& plugins,
                                            const state_config& cfg);

/// What start-up refuses about keeping this node's keys in `state` under
/// `node`: a node that holds a share of a partitioned cluster (node.members,
/// or listed among its own node.peers) on an engine other nodes share
/// (state_backend_plugin::shared). The handoff would move keys between
/// nodes that all read one database, deleting each key it "moves". Empty
/// when the plugin is unknown (check_state_config reports that).
std::vector<std::string> check_cluster_storage(const plugin_registry& plugins,
                                               const state_config& state,
                                               const node_config& node);

/// The scheme of a connection string ("redis" of "redis://h:1/0"), or the
/// whole text when it has none ("memory").
std::string_view scheme_of(std::string_view type);

} // namespace solver_state
