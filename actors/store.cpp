// start_store/stop_store: opens the plugin named by state.type and spawns the
// metrics actor, one shard per backend store, the router and the ticker.

#include "actors/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actors/metrics.hpp"
#include "actors/router.hpp"
#include "actors/shard.hpp"
#include "actors/ticker.hpp"
#include "backends/connection_url.hpp"
#include "backends/plugin.hpp"

namespace solver_state {

caf::expected<store_handles> start_store(caf::actor_system& sys,
                                         const state_config& cfg,
                                         const plugin_registry& plugins) {
  auto plugin = plugins.find(cfg.type);
  if (!plugin)
    return make_state_error(state_errc::backend_error,
                            "state.type: unknown backend '"
                              + redact_password(cfg.type)
                              + "' (known: " + plugins.names() + ")");
  auto stores = plugin->create_stores(cfg);
  if (!stores)
    return make_state_error(state_errc::backend_error,
                            "state.type: cannot open "
                              + redact_password(cfg.type) + ": "
                              + message_of(stores.error()));
  store_handles out;
  out.backend = std::string{plugin->name()};
  out.metrics = spawn_metrics(sys);
  for (size_t i = 0; i < stores->size(); ++i) {
    shard_settings settings{static_cast<uint32_t>(i),
                            cfg.ttl_seconds * 1000, out.metrics};
    out.shards.push_back(spawn_shard(sys, std::move((*stores)[i]),
                                     plugin->blocking(), settings));
  }
  out.router = spawn_router(sys, out.shards);
  out.owners = local_ownership<state_actor>(
    {out.shards.begin(), out.shards.end()});
  ticker_settings ticks{cfg.sweep_interval,
                        cfg.type == "file" ? cfg.file.sync_interval
                                           : std::chrono::milliseconds{0}};
  out.ticker = spawn_ticker(sys, out.shards, ticks);
  return out;
}

void stop_store(store_handles& store) {
  caf::anon_send_exit(store.ticker, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store.router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store.metrics, caf::exit_reason::user_shutdown);
  for (auto& shard : store.shards)
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
}

} // namespace solver_state
