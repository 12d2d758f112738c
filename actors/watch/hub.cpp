// The watch hub actor (see hub.hpp).

#include "actors/watch/hub.hpp"

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/watch/history.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// One batch carries at most this many changes and, past its first change,
/// about this many bytes: a watcher's handler gets a bounded message.
constexpr size_t max_batch_events = 512;
constexpr size_t max_batch_bytes = 1u << 20;

struct subscription {
  uint64_t id = 0;
  watcher_actor watcher;
  std::string prefix;
  /// The next position this watcher has to get.
  uint64_t next = 0;
  /// A batch is on its way and its handler has not returned yet.
  bool busy = false;
  /// A change under its prefix left the history before it got it.
  bool lagging = false;
};

struct hub_state {
  static inline const char* name = "solver-state.watch-hub";

  watch_hub_settings settings;
  std::unique_ptr<change_history> history;
  /// Names this run's sequence (see change_batch::stream).
  uint64_t stream = 0;
  std::vector<subscription> subs;
  uint64_t last_id = 0;
  bool delivery_scheduled = false;
  watch_report counts;
};

using hub_ptr = watch_hub_actor::stateful_pointer<hub_state>;

/// A stream name unlikely to repeat across restarts: the start time in
/// microseconds, its low bits mixed with randomness.
uint64_t new_stream() {
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  std::random_device rd;
  auto mixed = (static_cast<uint64_t>(now) << 8) ^ (rd() & 0xff);
  // JSON numbers and SSE ids stay exact below 2^53.
  return mixed & ((uint64_t{1} << 53) - 1);
}

void schedule_delivery(hub_ptr self) {
  auto& st = self->state;
  if (st.delivery_scheduled)
    return;
  st.delivery_scheduled = true;
  self->send(self, deliver_atom_v);
}

subscription* find(hub_ptr self, uint64_t id) {
  for (auto& s : self->state.subs)
    if (s.id == id)
      return &s;
  return nullptr;
}

void forget(hub_ptr self, uint64_t id) {
  auto& subs = self->state.subs;
  subs.erase(std::remove_if(subs.begin(), subs.end(),
                            [id](const subscription& s) { return s.id == id; }),
             subs.end());
}

/// Tells every lagging watcher to resync and drops it.
void drop_lagging(hub_ptr self) {
  auto& st = self->state;
  auto reason = "the watcher fell behind: the history (state.watch."
                "history_events="
                + std::to_string(st.settings.history_events)
                + ", history_bytes="
                + std::to_string(st.settings.history_bytes)
                + ") no longer holds changes it has not received";
  for (auto& s : st.subs)
    if (s.lagging) {
      self->send(s.watcher, resync_atom_v, reason, true);
      ++st.counts.resyncs;
    }
  st.subs.erase(std::remove_if(st.subs.begin(), st.subs.end(),
                               [](const subscription& s) {
                                 return s.lagging;
                               }),
                st.subs.end());
}

/// A batch built in this round, reused by every watcher in the same place.
struct built_batch {
  uint64_t from;
  const std::string* prefix;
  uint64_t after;
  size_t events;
  caf::message msg;
};

void send_batch(hub_ptr self, subscription& s, const built_batch& b) {
  s.busy = true;
  self->state.counts.deliveries += b.events;
  auto id = s.id;
  self->request(caf::actor_cast<caf::actor>(s.watcher), caf::infinite, b.msg)
    .then(
      [self, id]() {
        if (auto s = find(self, id)) {
          s->busy = false;
          schedule_delivery(self);
        }
      },
      [self, id](caf::error&) {
        // The watcher is gone (or refused the batch): it is over.
        forget(self, id);
      });
}

/// Hands every watcher that is ready its next batch.
void deliver(hub_ptr self) {
  auto& st = self->state;
  st.delivery_scheduled = false;
  std::vector<built_batch> built;
  for (auto& s : st.subs) {
    if (s.busy || s.lagging || s.next > st.history->last())
      continue;
    auto same = std::find_if(built.begin(), built.end(),
                             [&s](const built_batch& b) {
                               return b.from == s.next && *b.prefix == s.prefix;
                             });
    if (same == built.end()) {
      change_batch batch{st.stream, {}};
      auto after = st.history->collect(s.next, s.prefix, max_batch_events,
                                       max_batch_bytes, batch.events);
      auto n = batch.events.size();
      built.push_back(built_batch{s.next, &s.prefix, after, n,
                                  n == 0 ? caf::message{}
                                         : caf::make_message(
                                           std::move(batch))});
      same = built.end() - 1;
    }
    s.next = same->after;
    if (same->events > 0)
      send_batch(self, s, *same);
  }
}

/// Appends a shard's changes, then drops what the history cannot hold: a
/// watcher that had still to get one of those is lagging.
void on_changes(hub_ptr self, std::vector<change_event>& events) {
  auto& st = self->state;
  st.counts.events += events.size();
  for (auto& ev : events)
    st.history->append(std::move(ev));
  bool lagging = false;
  st.history->trim([&](const change_event& ev) {
    for (auto& s : st.subs) {
      if (s.lagging || s.next > ev.seq)
        continue;
      if (under(ev, s.prefix))
        s.lagging = lagging = true;
      else
        s.next = ev.seq + 1; // nothing for it: skip ahead
    }
  });
  if (lagging)
    drop_lagging(self);
  if (!st.subs.empty())
    schedule_delivery(self);
}

caf::result<watch_started> subscribe(hub_ptr self, watch_request& req,
                                     watcher_actor& watcher) {
  auto& st = self->state;
  if (!watcher)
    return make_state_error(state_errc::bad_request, "no watcher to notify");
  if (st.subs.size() >= st.settings.max_watchers)
    return make_state_error(state_errc::capacity_exceeded,
                            "state.watch.max_watchers ("
                              + std::to_string(st.settings.max_watchers)
                              + ") watchers are subscribed already");
  auto& h = *st.history;
  watch_started out{st.stream, h.last(), false};
  if (req.resume) {
    bool held = req.stream == st.stream && req.after + 1 >= h.first()
                && req.after <= h.last();
    if (held)
      out.position = req.after;
    else
      out.resync = true;
  }
  subscription s;
  s.id = ++st.last_id;
  s.watcher = watcher;
  s.prefix = std::move(req.prefix);
  s.next = out.position + 1;
  st.subs.push_back(std::move(s));
  self->monitor(watcher);
  schedule_delivery(self);
  return out;
}

void report(hub_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.settings.report_interval, tick_atom_v);
  if (!st.settings.metrics)
    return;
  st.counts.watchers = st.subs.size();
  st.counts.history_events = st.history->size();
  st.counts.history_bytes = st.history->bytes();
  self->send(st.settings.metrics, report_atom_v, st.counts);
  st.counts = watch_report{};
}

watch_hub_actor::behavior_type hub(hub_ptr self, watch_hub_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.history = std::make_unique<change_history>(st.settings.history_events,
                                                st.settings.history_bytes);
  st.stream = new_stream();
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subs;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const subscription& s) {
                                return s.watcher.address() == dm.source;
                              }),
               subs.end());
  });
  self->delayed_send(self, st.settings.report_interval, tick_atom_v);
  return {
    [=](watch_atom, watch_request& req,
        watcher_actor& watcher) -> caf::result<watch_started> {
      return subscribe(self, req, watcher);
    },
    [=](unwatch_atom, const watcher_actor& watcher) {
      auto& subs = self->state.subs;
      subs.erase(std::remove_if(subs.begin(), subs.end(),
                                [&](const subscription& s) {
                                  return s.watcher == watcher;
                                }),
                 subs.end());
    },
    [=](changes_atom, std::vector<change_event>& events) {
      on_changes(self, events);
    },
    [=](deliver_atom) { deliver(self); },
    [=](tick_atom) { report(self); },
  };
}

} // namespace

watch_hub_actor spawn_watch_hub(caf::actor_system& sys,
                                watch_hub_settings settings) {
  return sys.spawn(hub, std::move(settings));
}

} // namespace solver_state
