#pragma once

// Composition root of a local store: the backend plugin's stores, one shard
// actor per store, the router in front, the ticker and the metrics actor.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "actors/key_router.hpp"
#include "config/config.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

class plugin_registry;

/// Bounds and callbacks of a store beyond its state_config.
struct store_options {
  /// Keys one batch_get may name (http.max_batch_keys).
  size_t max_batch_keys = 1'000;
  /// Value bytes one batch_get reply carries (http.max_reply_bytes).
  size_t max_reply_bytes = 16u << 20;
  /// How long the router's fan-outs wait for a shard.
  std::chrono::milliseconds fan_out_timeout{30'000};
  /// Called once, on the failing shard's thread, when a shard stops for any
  /// reason but a shutdown (an exception, bad_alloc): its held requests
  /// were answered with an error, but its keys have no owner any more. A
  /// service should exit non-zero so that its supervisor restarts it and
  /// recovery runs (app/main.cpp). Empty: logged only.
  std::function<void(const std::string& why)> on_failure;
  /// The shards leave their memory to the process's exit after a clean
  /// close (shard_settings::memory_to_exit): for a process that exits next.
  bool memory_to_exit = false;
};

/// What went wrong in a store's life that whoever started it must hear
/// about after it stopped.
struct store_status {
  /// A shard failed (see store_options::on_failure).
  std::atomic<bool> shard_failed{false};
  /// A shard's backend failed to close (a final sync or fold): writes it
  /// acknowledged may not be durable.
  std::atomic<bool> close_failed{false};
  /// Shards that have exited (each closed its backend first).
  std::atomic<size_t> shards_stopped{0};
};

struct store_handles {
  state_actor router;
  metrics_actor metrics;
  ticker_actor ticker;
  /// Watches: subscribe a watcher_actor here (this store's changes).
  watch_hub_actor hub;
  /// Reads the engine's change feed into the hub, on engines several nodes
  /// share (actors/watch/engine_feed.hpp); invalid otherwise.
  caf::actor feed;
  /// The bounds the hub was started with (a cluster front's hub takes the
  /// same).
  watch_config watch;
  std::vector<shard_actor> shards;
  /// The shards by key, placed as the router places them, for clients that
  /// may skip its hop (the HTTP gateway).
  ownership_ptr<state_actor> owners;
  std::string backend; // plugin name
  /// The data lives in an engine other nodes may share
  /// (state_backend_plugin::shared): never partitioned over members.
  bool shared = false;
  /// Final once every shard has exited (after the actor system is gone).
  std::shared_ptr<store_status> status;
};

/// Opens the backend named by cfg.type and spawns the store's actors. Fails
/// with a message naming state.type when the backend is unknown or unusable.
caf::expected<store_handles> start_store(caf::actor_system& sys,
                                         const state_config& cfg,
                                         const plugin_registry& plugins,
                                         store_options options = {});

/// Stops every actor of the store. Shards close (flush and sync) their
/// backends as they exit.
void stop_store(store_handles& store);

} // namespace solver_state
