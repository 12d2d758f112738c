// The "redis" plugin: refuses eviction: lru with max_items and opens one
// redis_store (one connection) per shard; starts even if Redis is down.

#include <algorithm>
#include <chrono>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/redis/feed.hpp"
#include "backends/redis/plugin.hpp"
#include "backends/redis/store.hpp"

namespace solver_state {

namespace {

/// The feed's longest wait for a reply: its reader blocks meanwhile, and a
/// stop waits for the reader.
constexpr std::chrono::milliseconds feed_timeout{2'000};

class redis_plugin final : public state_backend_plugin {
public:
  explicit redis_plugin(std::string_view scheme) : scheme_(scheme) {}

  std::string_view name() const override { return scheme_; }

  caf::error check(const state_config& cfg) const override {
    if (auto opts = parse_redis_url(cfg.type); !opts)
      return std::move(opts.error());
    return {};
  }

  bool blocking() const override { return true; }

  /// Every node given the same URL reads and writes the same data.
  bool shared(const state_config&) const override { return true; }

  /// Several nodes may share one Redis: watches read what every write
  /// publishes (feed.hpp), unless the URL says this node is the only
  /// writer (watches=local).
  watch_support watches(const state_config& cfg) const override {
    auto opts = parse_redis_url(cfg.type);
    if (opts && opts->local_watches)
      return {};
    return {watch_support::engine_feed, {}};
  }

  caf::expected<std::unique_ptr<change_feed>>
  open_change_feed(const state_config& cfg) const override {
    auto opts = parse_redis_url(cfg.type);
    if (!opts)
      return std::move(opts.error());
    opts->command_timeout = std::min(opts->command_timeout, feed_timeout);
    return make_redis_change_feed(std::move(*opts));
  }

  caf::expected<store_list> create_stores(const state_config& cfg) override {
    auto opts = parse_redis_url(cfg.type);
    if (!opts)
      return std::move(opts.error());
    // max_items is enforced (the set script counts live keys); choosing a
    // victim to evict across every client of the prefix is not.
    if (cfg.max_items != 0 && cfg.eviction == eviction_policy::lru)
      return make_state_error(
        state_errc::backend_error,
        "state.eviction: lru is not supported by the redis backend; use "
        "eviction: reject (new keys beyond state.max_items then fail with "
        "capacity_exceeded), state.max_items: 0 with Redis' own "
        "maxmemory-policy, or raise state.max_items");
    store_list stores;
    for (size_t i = 0; i < cfg.shards; ++i)
      stores.push_back(
        std::make_unique<redis_store>(*opts, shard_slice{i, cfg.shards},
                                     cfg.max_items));
    // An unreachable server is not a start-up failure: the service starts
    // not ready (/readyz 503) and the stores reconnect when it comes up.
    if (auto err = stores.front()->health_check())
      spdlog::warn("state backend not reachable yet: {}", message_of(err));
    return stores;
  }

private:
  std::string scheme_;
};

} // namespace

std::unique_ptr<state_backend_plugin>
make_redis_plugin(std::string_view scheme) {
  return std::make_unique<redis_plugin>(scheme);
}

} // namespace solver_state
