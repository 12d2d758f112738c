#pragma once

// The WATCH HUB: one per node. Shards send it their committed changes (after
// the group commit that made them durable, in commit order); it numbers them
// in one sequence, keeps them in a bounded history and hands each watcher
// the ones under its prefix, one batch at a time: the next batch goes out
// when the watcher's handler has returned. Watchers in step share one
// message, so a hundred watchers of one prefix cost a hundred sends, not a
// hundred copies. A watcher that falls out of the history is told to
// resync and dropped: memory stays bounded whatever a watcher does.

#include <chrono>
#include <cstddef>
#include <string>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

struct watch_hub_settings {
  size_t history_events = 100'000;
  size_t history_bytes = 64u << 20;
  size_t max_watchers = 1'000;
  /// Not empty: this store serves no watches, and every subscription is
  /// refused (bad_request) with this reason.
  std::string refusal;
  /// Receives the hub's report every report_interval; may be invalid.
  metrics_actor metrics;
  std::chrono::milliseconds report_interval{1'000};
};

watch_hub_actor spawn_watch_hub(caf::actor_system& sys,
                                watch_hub_settings settings);

} // namespace solver_state
