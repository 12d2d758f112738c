// Starting and stopping a node: the cluster router over peer actors, or the
// local router, and publishing it on node.listen.

#include "actors/cluster/node.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/member_guard.hpp"
#include "actors/cluster/metrics.hpp"
#include "actors/cluster/router.hpp"
#include "actors/cluster/self_check.hpp"
#include "actors/cluster/settings.hpp"
#include "actors/cluster/transport.hpp"
#include "actors/cluster/watch_relay.hpp"
#include "actors/watch/hub.hpp"

namespace solver_state {

namespace {

/// Collectors wait for peer actors, which answer within request_timeout
/// (twice that when a request first waits in the queue).
std::chrono::milliseconds fan_out_timeout(const node_config& cfg) {
  return cfg.request_timeout * 3 + std::chrono::seconds{1};
}

/// True when this node's own listen address is one of its peers: it is a
/// store of the cluster as well as a front.
bool is_member(const node_config& cfg) {
  auto& nodes = cfg.store_nodes();
  return !cfg.listen.empty()
         && std::find(nodes.begin(), nodes.end(), cfg.listen) != nodes.end();
}

void start_cluster(caf::actor_system& sys, const node_config& cfg,
                   const store_handles& store, node_handles& out) {
  cluster_members members;
  for (auto& name : cfg.store_nodes()) {
    members.names.push_back(name);
    if (!cfg.listen.empty() && name == cfg.listen) {
      // This node's own share: no need to dial ourselves.
      members.stores.push_back(store.router);
      continue;
    }
    peer_settings settings;
    settings.name = name;
    split_host_port(name, settings.host, settings.port);
    settings.tls = cfg.tls.enabled();
    settings.request_timeout = cfg.request_timeout;
    auto peer = spawn_peer(sys, std::move(settings));
    out.peers.push_back(peer);
    out.peer_names.push_back(name);
    members.stores.push_back(peer);
  }
  auto timeout = fan_out_timeout(cfg);
  fan_out_limits limits;
  limits.timeout = timeout;
  if (store.owners) {
    limits.max_reply_bytes = store.owners->max_reply_bytes;
    limits.max_batch_keys = store.owners->max_batch_keys;
  }
  // The cluster hub: every store node's changes, each brought in by a relay
  // (watch_relay.hpp); the store's own hub keeps its own changes only.
  watch_hub_settings watch;
  watch.history_events = store.watch.history_events;
  watch.history_bytes = store.watch.history_bytes;
  watch.max_watchers = store.watch.max_watchers;
  out.hub = spawn_watch_hub(sys, watch);
  out.owned.push_back(caf::actor_cast<caf::actor>(out.hub));
  auto relay = [&](std::string name, state_actor source, peer_actor peer) {
    watch_relay_settings r;
    r.name = std::move(name);
    r.source = std::move(source);
    r.peer = std::move(peer);
    r.target = out.hub;
    out.owned.push_back(spawn_watch_relay(sys, std::move(r)));
  };
  relay("local", store.router, {});
  for (size_t i = 0; i < out.peers.size(); ++i)
    relay(out.peer_names[i], caf::actor_cast<state_actor>(out.peers[i]),
          out.peers[i]);
  out.front = spawn_cluster_router(sys, std::move(members), limits, out.hub);
  out.front_owners = nullptr;
  out.metrics = spawn_cluster_metrics(sys, store.metrics, out.peers, timeout);
  out.owned.push_back(caf::actor_cast<caf::actor>(out.front));
  out.owned.push_back(caf::actor_cast<caf::actor>(out.metrics));
}

} // namespace

caf::expected<node_handles> start_node(caf::actor_system& sys,
                                       const node_config& cfg,
                                       const store_handles& store) {
  node_handles out;
  out.front = store.router;
  out.hub = store.hub;
  out.front_owners = store.owners;
  out.metrics = store.metrics;
  out.tls = cfg.tls.enabled();
  if (!node_enabled(cfg))
    return out;
  if (auto err = check_message_types(sys))
    return err;
  if (!cfg.store_nodes().empty()) {
    start_cluster(sys, cfg, store, out);
    spdlog::info("node: cluster of {} store nodes, request_timeout={}ms",
                 cfg.store_nodes().size(), cfg.request_timeout.count());
  }
  if (!cfg.listen.empty()) {
    std::string host;
    uint16_t port = 0;
    split_host_port(cfg.listen, host, port);
    // Peers must reach a store, never another cluster router: two cluster
    // routers asking each other would fan list and health out forever. So a
    // member publishes its local router, behind a guard that refuses keys
    // it does not own (member_guard.hpp); only a pure front (not among its
    // own peers) publishes its cluster router, for remote solver clients.
    auto published = store.router;
    const char* what = "store";
    if (is_member(cfg)) {
      published = spawn_member_guard(sys, store.router, cfg.store_nodes(),
                                     cfg.listen);
      out.owned.push_back(caf::actor_cast<caf::actor>(published));
      what = "store (its own keys only)";
    } else if (!cfg.store_nodes().empty()) {
      published = out.front;
      what = "cluster router";
    }
    out.published = published;
    auto bound = publish_state(sys, published, host, port, out.tls);
    if (!bound) {
      stop_node(sys, out);
      return make_state_error(state_errc::io_error,
                              "node.listen: cannot publish on " + cfg.listen
                                + ": " + sys.render(bound.error()));
    }
    out.port = *bound;
    spdlog::info("node: {} published on {}:{}{}", what, host, out.port,
                 out.tls ? " (TLS)" : "");
  }
  return out;
}

void stop_node(caf::actor_system& sys, node_handles& node) {
  if (node.port != 0) {
    unpublish_state(sys, node.published, node.port, node.tls);
    node.port = 0;
  }
  for (auto& a : node.owned)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  for (auto& p : node.peers)
    caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  node.owned.clear();
  node.peers.clear();
}

} // namespace solver_state
