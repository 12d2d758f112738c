#pragma once

// A WATCH RELAY brings one store's committed changes into a node's cluster
// hub, so that a watcher of a cluster front sees every store node: one relay
// per peer (through its peer actor) and one for the node's own store. Each
// store's hub holds only its own shards' changes (the relays of another
// node never feed it), so nothing is relayed twice or in a loop.
//
// A relay subscribes to every key and forwards each batch as it comes; the
// cluster hub's bounded history absorbs bursts, and a watcher of the front
// that falls behind resyncs there. When the subscription is lost (the peer
// reconnected: a restarted node has a new hub; or the store's hub dropped
// the relay) it subscribes again and then tells the front's watchers to
// resync, since changes may have been missed in between; so does its first
// subscription (watchers of the front may have come before it).

#include <chrono>
#include <functional>
#include <string>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

struct watch_relay_settings {
  /// For messages: the peer's host:port, or "local".
  std::string name;
  /// Where to subscribe: a peer actor, or the node's own router.
  state_actor source;
  /// The peer actor behind `source`, to notice reconnections; invalid for
  /// the node's own store.
  peer_actor peer;
  /// The node's cluster hub.
  watch_hub_actor target;
  /// When set, events it returns false for are not relayed: a member node
  /// that hands a key to its new owner drops its copy, and that delete is
  /// no change of the key (membership.hpp, handoff.hpp).
  std::function<bool(const change_event&)> keep;
  /// How often the relay checks its subscription.
  std::chrono::milliseconds check_interval{1'000};
};

caf::actor spawn_watch_relay(caf::actor_system& sys,
                             watch_relay_settings settings);

} // namespace solver_state
