// The engine feed reader actor (see engine_feed.hpp).

#include "actors/watch/engine_feed.hpp"

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/watch/change_recorder.hpp"
#include "backends/change_feed.hpp"
#include "backends/codec/value_codec.hpp"
#include "backends/shard_placement.hpp"
#include "backends/state_store.hpp"
#include "messages/errors.hpp"
#include "util/wall_clock.hpp"

namespace solver_state {

namespace {

/// Changes one read takes at most: one hub message.
constexpr size_t changes_per_read = 512;

/// Hub messages on their way at most: past it the reader waits for the hub
/// (the engine buffers meanwhile, and drops a subscriber that falls too far
/// behind: then the watchers resync).
constexpr int max_in_flight = 4;

struct feed_state {
  static inline const char* name = "solver-state.engine-feed";

  engine_feed_settings settings;
  std::unique_ptr<change_recorder> changes;
  std::vector<change_event> read;
  /// The feed reads now.
  bool live = false;
  /// The feed has read before (a start after that is a restart).
  bool ever_read = false;
  /// A read is on its way (tick in the mailbox or a retry pending).
  bool reading = false;
  int in_flight = 0;
  /// Values that could not be decoded, since the last warning (at most one
  /// a minute: a key missing from this node's config fails every value).
  uint64_t undecodable = 0;
  std::string last_undecodable_error;
  std::chrono::steady_clock::time_point last_warning{};
};

using feed_ptr = caf::stateful_actor<feed_state>*;

/// Stages `ev` (a stored value) in the recorder, decoded.
void stage(feed_ptr self, change_event& ev) {
  auto& st = self->state;
  switch (ev.why()) {
    case change_cause::put: {
      auto plain = st.settings.codec->decode(ev.key, std::move(ev.value));
      if (!plain) {
        // This node lacks the key that encrypted it (or the value is
        // damaged): a watcher cannot be handed it. Reads of the key answer
        // the same error.
        ++st.undecodable;
        st.last_undecodable_error = message_of(plain.error());
        return;
      }
      st.changes->put(std::move(ev.key), ev.version, std::move(*plain),
                      ev.expires_at_ms);
      return;
    }
    case change_cause::del:
      st.changes->erase(std::move(ev.key));
      return;
    case change_cause::expire:
      st.changes->expired(std::move(ev.key));
      return;
  }
}

void warn_undecodable(feed_ptr self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  if (st.undecodable == 0 || now - st.last_warning < std::chrono::minutes{1})
    return;
  spdlog::warn("watch: {} changes of the feed could not be decoded and were "
               "not handed to watchers: {}",
               st.undecodable, st.last_undecodable_error);
  st.undecodable = 0;
  st.last_warning = now;
}

void schedule_read(feed_ptr self, std::chrono::milliseconds after) {
  auto& st = self->state;
  if (st.reading || st.in_flight >= max_in_flight)
    return;
  st.reading = true;
  if (after.count() == 0)
    self->send(self, tick_atom_v);
  else
    self->delayed_send(self, after, tick_atom_v);
}

bool indexed(const engine_feed_settings& s, std::string_view key) {
  for (auto& prefix : s.index_prefixes)
    if (key.substr(0, prefix.size()) == prefix)
      return true;
  return false;
}

/// Sends each shard the changes of this read that its indexes cover (keys,
/// causes and versions, not values: one message per shard and read, at
/// most changes_per_read changes), counted with the hub's messages so that
/// a shard that falls behind slows the reads. The shard reads back only
/// the keys its indexes do not hold as changed: not its own writes.
void tell_indexes(feed_ptr self) {
  auto& st = self->state;
  auto& shards = st.settings.index_shards;
  if (shards.empty() || st.read.empty())
    return;
  std::vector<change_batch> per_shard(shards.size());
  for (auto& ev : st.read)
    if (indexed(st.settings, ev.key)) {
      auto& to = per_shard[shard_index(ev.key, shards.size())].events;
      to.push_back(change_event{0, ev.cause, ev.key, ev.version, {}, 0});
    }
  // Answered or not (a shard that is gone stops the store, its watchdog
  // says so), the request no longer holds the reads back.
  auto answered = [self] {
    --self->state.in_flight;
    schedule_read(self, std::chrono::milliseconds{0});
  };
  for (size_t i = 0; i < shards.size(); ++i) {
    if (per_shard[i].events.empty())
      continue;
    ++st.in_flight;
    self->request(shards[i], caf::infinite, reindex_atom_v,
                  std::move(per_shard[i]))
      .then(answered, [answered](caf::error&) { answered(); });
  }
}

/// After a gap: every shard reads its indexed keys again.
void refresh_indexes(feed_ptr self) {
  for (auto& shard : self->state.settings.index_shards)
    self->send(shard, reindex_atom_v, batch_request{});
}

void hand_to_hub(feed_ptr self) {
  auto& st = self->state;
  if (st.changes->empty())
    return;
  ++st.in_flight;
  self->request(st.settings.hub, caf::infinite, changes_atom_v,
                st.changes->take())
    .then(
      [self]() {
        --self->state.in_flight;
        schedule_read(self, std::chrono::milliseconds{0});
      },
      [self](caf::error&) {
        // The hub is gone: the store stops.
        self->quit();
      });
}

/// The TTLs the engine holds now replace those the recorder tracked, which
/// may be stale after a gap: a key written again without a TTL, or deleted,
/// while the feed was lost must not get an expire event for a live key (a
/// watcher would drop it); and a key another node wrote before this feed
/// started gets one. Unreadable: none tracked (a missing expire event is
/// the lesser harm; the watchers resync anyway).
void load_expiries(feed_ptr self) {
  auto& st = self->state;
  auto& feed = *st.settings.feed;
  if (feed.reports_expiries())
    return;
  auto held = feed.expiries(change_recorder::max_tracked_expiries);
  if (!held) {
    spdlog::warn("watch: could not read the TTLs held in {}: {}; keys "
                 "written with a TTL before now expire without an event",
                 feed.describe(), message_of(held.error()));
    st.changes->track_only({});
    return;
  }
  st.changes->track_only(std::move(*held));
}

/// Starts a lost (or never started) feed; true when it reads now.
bool restart(feed_ptr self) {
  auto& st = self->state;
  auto& feed = *st.settings.feed;
  if (auto err = feed.start())
    return false;
  st.live = true;
  load_expiries(self);
  self->send(st.settings.hub, feed_atom_v, true);
  // A gap: after a loss, or since the node started when the feed could not
  // start with it (the indexes' start-up build may have passed keys that
  // other nodes wrote meanwhile).
  refresh_indexes(self);
  spdlog::info("watch: reading the change feed of {}", feed.describe());
  // Watchers that subscribed before now may lack changes: the first start
  // may follow their subscription, a restart follows a gap.
  self->send(st.settings.hub, resync_atom_v,
             "the change feed of " + feed.describe()
               + (st.ever_read ? " was lost for a while: changes made "
                                 "meanwhile may be missing"
                               : " started after this watch: changes made "
                                 "before may be missing"),
             false);
  st.ever_read = true;
  return true;
}

void read_once(feed_ptr self) {
  auto& st = self->state;
  st.reading = false;
  if (!st.live && !restart(self)) {
    schedule_read(self, st.settings.retry_pause);
    return;
  }
  st.read.clear();
  auto err = st.settings.feed->next(st.read, changes_per_read,
                                    st.settings.read_wait);
  tell_indexes(self); // before stage() moves the keys out
  auto undecodable = st.undecodable;
  for (auto& ev : st.read)
    stage(self, ev);
  // Bounded as a sweep is; the rest are due at the next read.
  st.changes->expire_due(unix_now_ms(), state_store::max_sweep_keys);
  hand_to_hub(self);
  if (st.undecodable > undecodable)
    // A watcher cannot be handed such a change, and must not miss it
    // silently: it reads the state again (where the key answers the
    // same error).
    self->send(st.settings.hub, resync_atom_v,
               std::to_string(st.undecodable - undecodable)
                 + " changes of the feed could not be decoded: "
                 + st.last_undecodable_error,
               false);
  warn_undecodable(self);
  if (err) {
    st.live = false;
    self->send(st.settings.hub, feed_atom_v, false);
    spdlog::warn("watch: lost the change feed of {}: {}; watchers will be "
                 "told to resync once it is back",
                 st.settings.feed->describe(), message_of(err));
    schedule_read(self, st.settings.retry_pause);
    return;
  }
  schedule_read(self, std::chrono::milliseconds{0});
}

caf::behavior engine_feed(feed_ptr self, engine_feed_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.changes = std::make_unique<change_recorder>(
    !st.settings.feed->reports_expiries());
  st.live = st.ever_read = st.settings.started;
  if (st.live)
    load_expiries(self);
  self->send(st.settings.hub, feed_atom_v, st.live);
  schedule_read(self, std::chrono::milliseconds{0});
  return {
    [=](tick_atom) { read_once(self); },
  };
}

} // namespace

caf::actor spawn_engine_feed(caf::actor_system& sys,
                             engine_feed_settings settings) {
  return sys.spawn<caf::detached>(engine_feed, std::move(settings));
}

} // namespace solver_state
