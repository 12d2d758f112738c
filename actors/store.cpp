// start_store/stop_store: opens the plugin named by state.type and spawns the
// metrics actor, one shard per backend store, the router, the ticker, the
// watch hub and, on engines several nodes share, the change feed's reader.

#include "actors/store.hpp"

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actors/metrics.hpp"
#include "actors/router.hpp"
#include "actors/shard.hpp"
#include "actors/ticker.hpp"
#include "actors/watch/engine_feed.hpp"
#include "actors/watch/hub.hpp"
#include "backends/change_feed.hpp"
#include "backends/codec/coded_store.hpp"
#include "backends/codec/value_codec.hpp"
#include "backends/connection_url.hpp"
#include "backends/plugin.hpp"
#include "backends/state_store.hpp"
#include "messages/errors.hpp"

#include <spdlog/spdlog.h>

namespace solver_state {

namespace {

/// Tells `status` and `on_failure` when `shard` stops for any reason but a
/// shutdown.
void watch_shard(const shard_actor& shard, uint32_t index,
                 std::shared_ptr<store_status> status,
                 std::function<void(const std::string&)> on_failure) {
  auto ptr = caf::actor_cast<caf::abstract_actor*>(shard);
  ptr->attach_functor([=](const caf::error& reason) {
    ++status->shards_stopped;
    if (!reason || reason == caf::exit_reason::user_shutdown
        || reason == caf::exit_reason::normal)
      return;
    auto why = "shard " + std::to_string(index)
               + " stopped: " + message_of(reason);
    spdlog::critical("{}", why);
    if (!status->shard_failed.exchange(true) && on_failure)
      on_failure(why);
  });
}

/// How often the shards checkpoint (file: fold the log into the tree;
/// rocksdb: sync the log under fsync: interval); 0 for backends without.
std::chrono::milliseconds checkpoint_interval(const state_config& cfg) {
  if (cfg.type == "file")
    return cfg.file.sync_interval;
  if (cfg.type == "rocksdb")
    return cfg.rocksdb.sync_interval;
  return std::chrono::milliseconds{0};
}

/// How the router runs a transaction over several shards of `store`'s kind.
spanning_transactions spanning_of(const state_store& store) {
  // DynamoDB runs no transaction yet: its first key's shard refuses each
  // one with that reason, also one over several shards (refused here as
  // "one shard only", its keys moved into one group only to be refused
  // again for another reason).
  if (store.shares_data() || store.backend_name() == "dynamodb")
    return spanning_transactions::first_owner_applies;
  if (store.backend_name() == "memory")
    return spanning_transactions::coordinate;
  return spanning_transactions::one_shard_only;
}

/// Opens the engine's change feed and starts it now, before any shard
/// serves a write, so no change made through this node can precede it. The
/// feed's waits are short (2 s), so a hung engine holds up the start that
/// long at most; a feed that cannot start yet is retried by its reader, and
/// its watchers resync once it reads.
caf::error open_engine_feed(const state_backend_plugin& plugin,
                            const state_config& cfg,
                            engine_feed_settings& out) {
  auto feed = plugin.open_change_feed(cfg);
  if (!feed)
    return make_state_error(state_errc::backend_error,
                            "state.type: no change feed for watches: "
                              + message_of(feed.error()));
  auto codec = make_value_codec(cfg);
  if (!codec)
    return make_state_error(state_errc::backend_error,
                            message_of(codec.error()));
  out.feed = std::move(*feed);
  out.codec = std::move(*codec);
  if (auto err = out.feed->start())
    spdlog::warn("watch: the change feed of {} cannot start yet ({}); "
                 "retrying",
                 out.feed->describe(), message_of(err));
  else
    out.started = true;
  return {};
}

} // namespace

caf::expected<store_handles> start_store(caf::actor_system& sys,
                                         const state_config& cfg,
                                         const plugin_registry& plugins,
                                         store_options options) {
  auto plugin = plugins.find(cfg.type);
  if (!plugin)
    return make_state_error(state_errc::backend_error,
                            "state.type: unknown backend '"
                              + redact_password(cfg.type)
                              + "' (known: " + plugins.names() + ")");
  auto stores = plugin->create_stores(cfg);
  if (stores)
    if (auto err = wrap_in_codecs(*stores, cfg))
      return make_state_error(state_errc::backend_error, message_of(err));
  if (!stores) {
    // A backend that names the field at fault ("state.file.base_path: ...")
    // is quoted as is; else the backend as a whole is.
    auto why = message_of(stores.error());
    if (why.rfind("state.", 0) != 0)
      why = "state.type: cannot open " + redact_password(cfg.type) + ": " + why;
    return make_state_error(state_errc::backend_error, std::move(why));
  }
  auto spanning = stores->empty() ? spanning_transactions::coordinate
                                  : spanning_of(*stores->front());
  if (cfg.encryption.enabled() && !cfg.indexes.empty())
    spdlog::warn("state.indexes with state.encryption: the indexed fields "
                 "are kept in memory in plaintext (values stay encrypted at "
                 "rest); declare no index over a field that must not be");
  auto watches = plugin->watches(cfg);
  engine_feed_settings feed;
  if (watches.source == watch_support::engine_feed)
    if (auto err = open_engine_feed(*plugin, cfg, feed))
      return err;
  store_handles out;
  out.backend = std::string{plugin->name()};
  out.shared = plugin->shared(cfg);
  out.metrics = spawn_metrics(sys, cfg.max_items, stores->size());
  out.status = std::make_shared<store_status>();
  watch_hub_settings watch;
  watch.history_events = cfg.watch.history_events;
  watch.history_bytes = cfg.watch.history_bytes;
  watch.max_watchers = cfg.watch.max_watchers;
  watch.metrics = out.metrics;
  if (watches.source == watch_support::refused)
    watch.refusal = watches.why;
  out.hub = spawn_watch_hub(sys, watch);
  out.watch = cfg.watch;
  for (size_t i = 0; i < stores->size(); ++i) {
    shard_settings settings;
    settings.index = static_cast<uint32_t>(i);
    settings.default_ttl_ms = cfg.ttl_seconds * 1000;
    settings.metrics = out.metrics;
    settings.hub = out.hub;
    settings.changes_to_hub = watches.source == watch_support::shards;
    settings.max_value_bytes = cfg.max_value_bytes;
    settings.max_batch_keys = options.max_batch_keys;
    settings.max_reply_bytes = options.max_reply_bytes;
    settings.indexes = cfg.indexes;
    settings.shard_count = static_cast<uint32_t>(stores->size());
    settings.on_close_failure = [status = out.status](const caf::error&) {
      status->close_failed = true;
    };
    settings.memory_to_exit = options.memory_to_exit;
    out.shards.push_back(spawn_shard(sys, std::move((*stores)[i]),
                                     plugin->blocking(), settings));
    watch_shard(out.shards.back(), settings.index, out.status,
                options.on_failure);
  }
  // The feed started before the shards (no change is missed); its reader
  // needs them to keep their indexes following the other nodes' writes.
  if (feed.feed) {
    feed.hub = out.hub;
    if (!cfg.indexes.empty()) {
      feed.index_shards = out.shards;
      for (auto& index : cfg.indexes)
        feed.index_prefixes.push_back(index.prefix);
    }
    out.feed = spawn_engine_feed(sys, std::move(feed));
  }
  fan_out_limits limits{options.fan_out_timeout, options.max_reply_bytes,
                        options.max_batch_keys};
  limits.max_value_bytes = cfg.max_value_bytes;
  limits.spanning = spanning;
  out.router = spawn_router(sys, out.shards, limits, out.hub);
  out.owners = local_ownership<state_actor>(
    {out.shards.begin(), out.shards.end()}, limits);
  ticker_settings ticks{cfg.sweep_interval, checkpoint_interval(cfg)};
  out.ticker = spawn_ticker(sys, out.shards, ticks);
  return out;
}

namespace {

/// Sends `shard` its exit ahead of everything queued in its mailbox. Sent
/// in turn, it waited behind every request queued there, each of which may
/// wait out a hung backend's timeout (a frozen DynamoDB: 30 queued writes
/// took 123 s to stop, past any orchestrator's grace period) or compress a
/// large value for seconds, and writes whose callers had been told they
/// timed out were still applied during the stop. Overtaken, they are
/// answered "stopped before answering" and never applied; the shard still
/// finishes the call in progress, answers its pipelined and held writes
/// (drain) and closes its store.
void send_exit_first(const shard_actor& shard) {
  if (!shard)
    return;
  shard->enqueue(nullptr,
                 caf::make_message_id(caf::message_priority::high),
                 caf::make_message(caf::exit_msg{
                   shard->address(), caf::exit_reason::user_shutdown}),
                 nullptr);
}

} // namespace

void stop_store(store_handles& store) {
  caf::anon_send_exit(store.ticker, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store.router, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store.metrics, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(store.hub, caf::exit_reason::user_shutdown);
  if (store.feed)
    caf::anon_send_exit(store.feed, caf::exit_reason::user_shutdown);
  for (auto& shard : store.shards)
    send_exit_first(shard);
}

} // namespace solver_state
