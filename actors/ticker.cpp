// The ticker actor: sends every shard a tick (TTL sweep, metrics report) each
// sweep_interval, a report (health check, metrics report) each
// health_interval and a checkpoint each sync_interval (file backend only),
// never more than one at a time to a shard.

#include "actors/ticker.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace solver_state {

namespace {

/// The background work a shard has been sent and not yet answered, and what
/// came due meanwhile. A shard whose work blocks on a backend that does not
/// answer is sent nothing more until it answers: each message queued behind
/// it would wait out the same backend, and a stop behind them all would wait
/// for every one. What comes due meanwhile is sent once, when it answers.
struct shard_ticks {
  shard_actor shard;
  bool busy = false;
  bool checkpoint_due = false;
  bool tick_due = false;
  bool report_due = false;
};

struct ticker_state {
  static inline const char* name = "solver-state.ticker";
  std::vector<shard_ticks> shards;
};

using ticker_ptr = ticker_actor::stateful_pointer<ticker_state>;

void send_next(ticker_ptr self, size_t i);

/// Sends shard `i` one kind of work and marks it busy until it answers. A
/// shard that died answers with an error: nothing more to wait for.
template <class Atom>
void send_work(ticker_ptr self, size_t i, Atom work) {
  auto& s = self->state.shards[i];
  s.busy = true;
  self->request(s.shard, caf::infinite, work)
    .then([=]() { send_next(self, i); },
          [=](const caf::error&) { send_next(self, i); });
}

/// Shard `i` answered: what came due meanwhile goes out, the checkpoint
/// first (it makes writes durable under fsync: interval), then the sweep.
void send_next(ticker_ptr self, size_t i) {
  auto& s = self->state.shards[i];
  s.busy = false;
  if (std::exchange(s.checkpoint_due, false))
    send_work(self, i, checkpoint_atom_v);
  else if (std::exchange(s.tick_due, false))
    send_work(self, i, tick_atom_v);
  else if (std::exchange(s.report_due, false))
    send_work(self, i, report_atom_v);
}

/// `work` came due for every shard: sent to the idle ones, noted for the
/// busy ones (once, however many periods pass).
template <class Atom>
void fan_out(ticker_ptr self, Atom work, bool shard_ticks::*due) {
  for (size_t i = 0; i < self->state.shards.size(); ++i) {
    auto& s = self->state.shards[i];
    if (s.busy)
      s.*due = true;
    else
      send_work(self, i, work);
  }
}

ticker_actor::behavior_type ticker(ticker_ptr self,
                                   std::vector<shard_actor> shards,
                                   ticker_settings settings) {
  for (auto& shard : shards)
    self->state.shards.push_back(shard_ticks{std::move(shard)});
  // Timers re-arm first, then work, so a slow round never drifts the period.
  self->delayed_send(self, settings.sweep_interval, tick_atom_v);
  self->send(self, report_atom_v); // the first health check at once
  if (settings.sync_interval.count() > 0)
    self->delayed_send(self, settings.sync_interval, checkpoint_atom_v);
  return {
    [=](tick_atom) {
      self->delayed_send(self, settings.sweep_interval, tick_atom_v);
      fan_out(self, tick_atom_v, &shard_ticks::tick_due);
    },
    [=](report_atom) {
      self->delayed_send(self, settings.health_interval, report_atom_v);
      fan_out(self, report_atom_v, &shard_ticks::report_due);
    },
    [=](checkpoint_atom) {
      self->delayed_send(self, settings.sync_interval, checkpoint_atom_v);
      fan_out(self, checkpoint_atom_v, &shard_ticks::checkpoint_due);
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
