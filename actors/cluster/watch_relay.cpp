// The watch relay actor (see watch_relay.hpp).

#include "actors/cluster/watch_relay.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// tick_atom: time to check the subscription.
using relay_actor = watcher_actor::extend<caf::reacts_to<tick_atom>>;

struct relay_state {
  static inline const char* name = "solver-state.watch-relay";

  watch_relay_settings settings;
  bool subscribed = false;
  bool subscribing = false;
  /// Subscribed once already: a new subscription means changes may have
  /// been missed.
  bool ever_subscribed = false;
  /// Why the front's watchers are owed a resync once a subscription is in
  /// place (the first one, or one after a loss); empty when none is owed.
  std::string owed_resync;
  /// The peer's connection count when the subscription was made.
  uint64_t connects = 0;
};

using relay_ptr = relay_actor::stateful_pointer<relay_state>;

/// The subscription is gone: the front's watchers are told to resync once
/// a new one is in place, not now. A client that read the state again on
/// an early resync would miss what the node committed before the relay
/// subscribed again.
void lost(relay_ptr self, const std::string& why) {
  auto& st = self->state;
  st.subscribed = false;
  spdlog::warn("watch: the relay of {} lost its subscription: {}",
               st.settings.name, why);
  st.owed_resync = "changes of store node " + st.settings.name
                   + " may have been missed: " + why;
}

/// A subscription is in place: the resync owed, if any, goes out now.
void send_owed_resync(relay_ptr self) {
  auto& st = self->state;
  if (st.owed_resync.empty())
    return;
  self->send(st.settings.target, resync_atom_v, std::move(st.owed_resync),
             false);
  st.owed_resync.clear();
}

void subscribe(relay_ptr self) {
  auto& st = self->state;
  if (st.subscribed || st.subscribing)
    return;
  st.subscribing = true;
  auto me = caf::actor_cast<watcher_actor>(self);
  self
    ->request(st.settings.source, st.settings.check_interval * 5, watch_atom_v,
              watch_request{"", false, 0, 0}, me)
    .then(
      [self](const watch_started&) {
        auto& st = self->state;
        st.subscribing = false;
        st.subscribed = true;
        if (st.ever_subscribed)
          spdlog::info("watch: the relay of {} subscribed again",
                       st.settings.name);
        st.ever_subscribed = true;
        send_owed_resync(self);
        if (st.settings.peer)
          self->request(st.settings.peer, st.settings.check_interval,
                        peer_stats_atom_v)
            .then([self](const peer_stats& s) { self->state.connects = s.connects; },
                  // A slow or gone peer: the next check's count becomes the
                  // baseline (with no handler, CAF 0.17 would end the relay,
                  // and its watchers would miss that node's changes without
                  // a resync).
                  [](caf::error&) {});
      },
      [self](caf::error&) {
        // Not reachable yet: the next check tries again.
        self->state.subscribing = false;
      });
}

void check(relay_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.settings.check_interval, tick_atom_v);
  if (!st.subscribed) {
    subscribe(self);
    return;
  }
  if (!st.settings.peer)
    return;
  self->request(st.settings.peer, st.settings.check_interval, peer_stats_atom_v)
    .then(
      [self](const peer_stats& s) {
        auto& st = self->state;
        if (st.subscribed && st.connects == 0) {
          // The count asked for after subscribing did not come: this one
          // is the baseline (a reconnect in between goes unseen).
          st.connects = s.connects;
        } else if (st.subscribed && s.connects != st.connects) {
          lost(self, "the connection to it was made again");
          subscribe(self);
        }
      },
      [](caf::error&) {});
}

relay_actor::behavior_type relay(relay_ptr self,
                                 watch_relay_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  // Watchers of the front that subscribe before this relay does (the store
  // node slow to answer, or down) do not hear that node's changes until
  // then: the first subscription tells them to read the state again.
  st.owed_resync = "changes of store node " + st.settings.name
                   + " made before the front subscribed to them were not "
                     "relayed";
  self->send(self, tick_atom_v);
  return {
    [self](change_batch& batch) -> caf::result<void> {
      auto& keep = self->state.settings.keep;
      if (keep) {
        auto& events = batch.events;
        events.erase(std::remove_if(events.begin(), events.end(),
                                    [&](const change_event& e) {
                                      return !keep(e);
                                    }),
                     events.end());
        if (events.empty())
          return caf::unit;
      }
      // Answered once the cluster hub took the batch: the store's hub then
      // sends the next one. No queue grows between them; a relay that
      // falls behind is dropped by its source, and subscribes again.
      auto rp = self->make_response_promise();
      self->request(self->state.settings.target, caf::infinite, changes_atom_v,
                    std::move(batch.events))
        .then([rp]() mutable { rp.deliver(caf::unit); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return caf::delegated<void>{};
    },
    [self](resync_atom, const std::string& why, bool dropped) {
      if (dropped) {
        lost(self, why);
        subscribe(self);
      } else {
        self->send(self->state.settings.target, resync_atom_v,
                   "store node " + self->state.settings.name + ": " + why,
                   false);
      }
    },
    [self](tick_atom) { check(self); },
  };
}

} // namespace

caf::actor spawn_watch_relay(caf::actor_system& sys,
                             watch_relay_settings settings) {
  return caf::actor_cast<caf::actor>(sys.spawn(relay, std::move(settings)));
}

} // namespace solver_state
