// The watch hub actor (see hub.hpp).

#include "actors/watch/hub.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <iterator>
#include <optional>
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

/// What a watcher of `prefix` at position `from` gets from the chunk that
/// holds `from`: the chunk's own message when every change in it from
/// `from` on is under the prefix, else a copy of those that are (an empty
/// message when none is).
struct prefix_batch {
  uint64_t from = 0;
  std::string prefix;
  uint64_t after = 0; // the position after the chunk
  size_t events = 0;
  caf::message msg;
};

/// Copied batches kept for the next watcher of the same prefix.
constexpr size_t kept_batches = 64;

struct hub_state {
  static inline const char* name = "solver-state.watch-hub";

  watch_hub_settings settings;
  std::unique_ptr<change_history> history;
  std::vector<subscription> subs;
  /// Batches of one chunk for watchers of one prefix (see batch_at).
  std::deque<prefix_batch> batches;
  uint64_t last_id = 0;
  bool delivery_scheduled = false;
  std::chrono::steady_clock::time_point last_round{};
  watch_report counts;
  /// The engine's change feed, when one feeds this hub.
  feed_state feed = feed_state::none;
  /// The position the last gap took (change_history::skip) when changes
  /// were lost upstream (the feed was lost, or handed changes it could not
  /// decode, or a relay lost its subscription): a watcher resuming before
  /// it would replay across the gap, so it is told to resync.
  std::optional<uint64_t> gap_after;
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

using steady = std::chrono::steady_clock;

/// The least time between two rounds while changes keep coming; a change
/// after a quiet spell goes at the next round without waiting. Under load
/// the gap is what makes chunks large and the sends per change few (a chunk
/// per shard message was 20 changes at 200k writes/s, and 100 watchers fell
/// behind). A round sends to every ready watcher, so the gap grows with
/// them: 2 ms for up to 20 watchers, then 0.1 ms per watcher up to 10 ms,
/// which keeps the hub near 10 000 sends a second. 100 SSE streams kept 0.44
/// of the write rate with 2 ms rounds, 0.6-0.7 with 10 ms (bench/README.md).
steady::duration round_gap(size_t watchers) {
  using std::chrono::microseconds;
  auto per_watcher = microseconds{100} * static_cast<long>(watchers);
  return std::clamp<steady::duration>(per_watcher, std::chrono::milliseconds{2},
                                      std::chrono::milliseconds{10});
}

void schedule_delivery(hub_ptr self) {
  auto& st = self->state;
  if (st.delivery_scheduled)
    return;
  st.delivery_scheduled = true;
  auto since = steady::now() - st.last_round;
  auto gap = round_gap(st.subs.size());
  if (since >= gap) // behind the changes already in the mailbox
    self->send(self, deliver_atom_v);
  else
    self->delayed_send(self, gap - since, deliver_atom_v);
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

void deliver_to(hub_ptr self, subscription& s);
void trim_history(hub_ptr self);

void send_batch(hub_ptr self, subscription& s, const prefix_batch& b) {
  s.busy = true;
  self->state.counts.deliveries += b.events;
  auto id = s.id;
  self->request(caf::actor_cast<caf::actor>(s.watcher), caf::infinite, b.msg)
    .then(
      [self, id]() {
        // The next batch at once: a round would queue it behind every
        // shard's changes in the mailbox.
        if (auto s = find(self, id)) {
          s->busy = false;
          deliver_to(self, *s);
        }
      },
      [self, id](caf::error& err) {
        // The watcher is gone, or refused the batch: it is over. One still
        // there hears it, or it would wait for changes that never come.
        auto s = find(self, id);
        if (s && err != caf::sec::request_receiver_down)
          self->send(s->watcher, resync_atom_v,
                     "the watcher refused a batch of changes ("
                       + message_of(err) + "): read the state again",
                     true);
        forget(self, id);
      });
}

/// The batch of a watcher of `prefix` at `from`, or null when no sealed
/// chunk holds `from` yet.
const prefix_batch* batch_at(hub_ptr self, uint64_t from,
                             const std::string& prefix) {
  auto& st = self->state;
  auto* chunk = st.history->chunk_of(from);
  if (chunk == nullptr)
    return nullptr;
  for (auto& b : st.batches)
    if (b.from == from && b.prefix == prefix)
      return &b;
  auto& events = chunk->batch().events;
  // `from` may be a gap's mark (change_history::skip), before the chunk.
  auto begin = events.begin()
               + static_cast<ptrdiff_t>(from > chunk->first ? from - chunk->first
                                                            : 0);
  prefix_batch out{from, prefix, chunk->last + 1, 0, {}};
  auto matching = static_cast<size_t>(
    std::count_if(begin, events.end(),
                  [&](const change_event& ev) { return under(ev, prefix); }));
  out.events = matching;
  if (matching == events.size()) {
    out.msg = chunk->msg; // shared, not copied
  } else if (matching > 0) {
    change_batch copy{st.history->stream(), {}};
    copy.events.reserve(matching);
    std::copy_if(begin, events.end(), std::back_inserter(copy.events),
                 [&](const change_event& ev) { return under(ev, prefix); });
    out.msg = caf::make_message(std::move(copy));
  }
  if (st.batches.size() == kept_batches)
    st.batches.pop_front();
  st.batches.push_back(std::move(out));
  return &st.batches.back();
}

/// Sends watcher `s` its next batch while it is ready for one and a sealed
/// chunk holds changes it has not got (chunks without any of its changes
/// are skipped in one go).
void deliver_to(hub_ptr self, subscription& s) {
  while (!s.busy && !s.lagging) {
    auto* b = batch_at(self, s.next, s.prefix);
    if (b == nullptr)
      return;
    s.next = b->after;
    if (b->events > 0)
      send_batch(self, s, *b);
  }
}

/// Seals what arrived since the last round and hands every watcher that is
/// ready its next batch.
void deliver(hub_ptr self) {
  auto& st = self->state;
  st.delivery_scheduled = false;
  st.last_round = steady::now();
  st.history->seal();
  // Hand out the chunk just sealed before trimming: a burst of more changes
  // than the history holds, all in that one chunk, would otherwise be
  // trimmed whole before anyone got it, and every watcher told to resync
  // though none was behind. A watcher still busy with an older batch is.
  for (auto& s : st.subs)
    deliver_to(self, s);
  trim_history(self);
}

/// Drops what the history cannot hold: a watcher that had still to get
/// one of those changes is lagging, told to resync and dropped.
void trim_history(hub_ptr self) {
  auto& st = self->state;
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
}

/// Appends a shard's changes. Full chunks go out at once; the open one at
/// the end of this burst of messages, when the round comes.
void on_changes(hub_ptr self, std::vector<change_event>& events) {
  auto& st = self->state;
  st.counts.events += events.size();
  auto sealed = st.history->last_sealed();
  for (auto& ev : events)
    st.history->append(std::move(ev));
  if (st.history->last_sealed() != sealed) // out before trimming (deliver)
    for (auto& s : st.subs)
      deliver_to(self, s);
  trim_history(self);
  schedule_delivery(self);
}

caf::result<watch_started> subscribe(hub_ptr self, watch_request& req,
                                     watcher_actor& watcher) {
  auto& st = self->state;
  if (!watcher)
    return make_state_error(state_errc::bad_request, "no watcher to notify");
  if (!st.settings.refusal.empty())
    return make_state_error(state_errc::bad_request, st.settings.refusal);
  // The same watcher asking again for the same prefix (a cluster front's
  // relay whose request timed out while the first one went through)
  // replaces its subscription: two would hand it every change twice.
  auto again = std::find_if(st.subs.begin(), st.subs.end(),
                            [&](const subscription& s) {
                              return s.watcher == watcher
                                     && s.prefix == req.prefix;
                            });
  bool monitored = again != st.subs.end();
  // Where the replaced subscription stood: the next change it had to get.
  std::optional<uint64_t> replaced_next;
  if (monitored) {
    replaced_next = again->next;
    st.subs.erase(again);
  }
  if (st.subs.size() >= st.settings.max_watchers)
    return make_state_error(state_errc::capacity_exceeded,
                            "state.watch.max_watchers ("
                              + std::to_string(st.settings.max_watchers)
                              + ") watchers are subscribed already");
  auto& h = *st.history;
  watch_started out{h.stream(), h.last(), false};
  if (req.resume) {
    bool held = req.stream == h.stream() && req.after + 1 >= h.first()
                && req.after <= h.last()
                && !(st.gap_after && req.after < *st.gap_after);
    if (held)
      out.position = req.after;
    else
      out.resync = true;
  } else if (replaced_next) {
    // It carries on from there, not from now: changes the old one had not
    // been handed yet (its watcher busy with a batch, or the round still
    // to come) would be skipped without a word.
    if (*replaced_next > h.last() || *replaced_next >= h.first())
      out.position = std::min(*replaced_next - 1, h.last());
    else
      out.resync = true;
  }
  subscription s;
  s.id = ++st.last_id;
  s.watcher = watcher;
  s.prefix = std::move(req.prefix);
  s.next = out.position + 1;
  st.subs.push_back(std::move(s));
  if (!monitored)
    self->monitor(watcher);
  // The watcher hears it, not only whoever asked (often not the watcher,
  // and free to drop the reply): before its first batch, and before the
  // reply, as messages from one actor arrive in order.
  if (out.resync)
    self->send(watcher, resync_atom_v,
               std::string{"the resume position is no longer in the "
                           "history, or changes after it were lost: read "
                           "the state again"},
               false);
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
  st.counts.feed = static_cast<uint8_t>(st.feed);
  self->send(st.settings.metrics, report_atom_v, st.counts);
  st.counts = watch_report{};
}

watch_hub_actor::behavior_type hub(hub_ptr self, watch_hub_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.history = std::make_unique<change_history>(new_stream(),
                                                st.settings.history_events,
                                                st.settings.history_bytes);
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
    [=](resync_atom, const std::string& why, bool) {
      // Lost upstream: every watcher must read again; all stay subscribed.
      // So must one that resumes later from before this point: the gap
      // takes a position of its own, which no change has, so a stream that
      // starts after it (at that position or later) resumes without a
      // resync, and one from before it (a lower position) gets one.
      self->state.history->skip();
      auto last = self->state.history->last();
      self->state.gap_after = last;
      for (auto& s : self->state.subs) {
        // The changes from before the gap that it has not got yet would
        // come after the resync, over the state it reads again: it skips
        // them (a batch already sent arrives before the resync).
        s.next = std::max(s.next, last + 1);
        self->send(s.watcher, resync_atom_v, why, false);
      }
      self->state.counts.resyncs += self->state.subs.size();
    },
    [=](feed_atom, bool reading) {
      auto& st = self->state;
      if (!reading && st.feed == feed_state::reading)
        ++st.counts.feed_losses;
      st.feed = reading ? feed_state::reading : feed_state::lost;
    },
    [=](tick_atom) { report(self); },
  };
}

} // namespace

watch_hub_actor spawn_watch_hub(caf::actor_system& sys,
                                watch_hub_settings settings) {
  return sys.spawn(hub, std::move(settings));
}

} // namespace solver_state
