// The ticker actor: sends every shard a tick (TTL sweep, metrics report) each
// sweep_interval, a report (health check, metrics report) each
// health_interval and a checkpoint each sync_interval (file backend only),
// never more than one at a time to a shard.

#include "actors/ticker.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace solver_state {

namespace {

/// The kinds of background work, in no order of importance.
enum class work_kind : uint8_t { checkpoint, tick, report };

/// The background work a shard has been sent and not yet answered, and what
/// came due meanwhile. A shard whose work blocks on a backend that does not
/// answer is sent nothing more until it answers: each message queued behind
/// it would wait out the same backend, and a stop behind them all would wait
/// for every one. What comes due meanwhile is sent once, when it answers, in
/// the order it came due: a shard whose every round trip outlasts a period
/// still gets each kind in turn (by a fixed order, the first kind, due again
/// at every answer, would have starved the others: no health check, no
/// sweep).
struct shard_ticks {
  shard_actor shard;
  bool busy = false;
  /// At most one of each kind, the longest waiting first.
  std::deque<work_kind> due;
};

struct ticker_state {
  static inline const char* name = "solver-state.ticker";
  std::vector<shard_ticks> shards;
};

using ticker_ptr = ticker_actor::stateful_pointer<ticker_state>;

void send_next(ticker_ptr self, size_t i);

/// Sends shard `i` `kind` and marks it busy until it answers. A shard that
/// died answers with an error: nothing more to wait for.
void send_work(ticker_ptr self, size_t i, work_kind kind) {
  auto& s = self->state.shards[i];
  s.busy = true;
  auto answered = [=]() { send_next(self, i); };
  auto failed = [=](const caf::error&) { send_next(self, i); };
  switch (kind) {
    case work_kind::checkpoint:
      self->request(s.shard, caf::infinite, checkpoint_atom_v)
        .then(answered, failed);
      break;
    case work_kind::tick:
      self->request(s.shard, caf::infinite, tick_atom_v).then(answered, failed);
      break;
    case work_kind::report:
      self->request(s.shard, caf::infinite, report_atom_v)
        .then(answered, failed);
      break;
  }
}

/// Shard `i` answered: what came due meanwhile goes out, the longest
/// waiting first.
void send_next(ticker_ptr self, size_t i) {
  auto& s = self->state.shards[i];
  s.busy = false;
  if (s.due.empty())
    return;
  auto next = s.due.front();
  s.due.pop_front();
  send_work(self, i, next);
}

/// `kind` came due for every shard: sent to the idle ones, noted for the
/// busy ones (once, however many periods pass).
void fan_out(ticker_ptr self, work_kind kind) {
  for (size_t i = 0; i < self->state.shards.size(); ++i) {
    auto& s = self->state.shards[i];
    if (!s.busy)
      send_work(self, i, kind);
    else if (std::find(s.due.begin(), s.due.end(), kind) == s.due.end())
      s.due.push_back(kind);
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
      fan_out(self, work_kind::tick);
    },
    [=](report_atom) {
      self->delayed_send(self, settings.health_interval, report_atom_v);
      fan_out(self, work_kind::report);
    },
    [=](checkpoint_atom) {
      self->delayed_send(self, settings.sync_interval, checkpoint_atom_v);
      fan_out(self, work_kind::checkpoint);
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
