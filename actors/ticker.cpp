// The ticker actor: sends every shard a tick (TTL sweep, metrics report) each
// sweep_interval, a report (health check, metrics report) each
// health_interval and a checkpoint each sync_interval (file backend only).

#include "actors/ticker.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace solver_state {

namespace {

ticker_actor::behavior_type ticker(ticker_actor::pointer self,
                                   std::vector<shard_actor> shards,
                                   ticker_settings settings) {
  // Timers re-arm first, then work, so a slow round never drifts the period.
  self->delayed_send(self, settings.sweep_interval, tick_atom_v);
  self->send(self, report_atom_v); // the first health check at once
  if (settings.sync_interval.count() > 0)
    self->delayed_send(self, settings.sync_interval, checkpoint_atom_v);
  return {
    [=](tick_atom) {
      self->delayed_send(self, settings.sweep_interval, tick_atom_v);
      for (auto& shard : shards)
        self->send(shard, tick_atom_v);
    },
    [=](report_atom) {
      self->delayed_send(self, settings.health_interval, report_atom_v);
      for (auto& shard : shards)
        self->send(shard, report_atom_v);
    },
    [=](checkpoint_atom) {
      self->delayed_send(self, settings.sync_interval, checkpoint_atom_v);
      for (auto& shard : shards)
        self->send(shard, checkpoint_atom_v);
    },
  };
}

} // namespace

ticker_actor spawn_ticker(caf::actor_system& sys,
                          std::vector<shard_actor> shards,
                          ticker_settings settings) {
  return sys.spawn(ticker, std::move(shards), settings);
}

} // namespace solver_state
