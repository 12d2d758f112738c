// Starting and stopping a node: the cluster router over peer actors, or the
// local router, and publishing it on node.listen.

#include "actors/cluster/node.hpp"

#include <algorithm>
#include <functional>
#include <memory>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/member_guard.hpp"
#include "actors/cluster/membership.hpp"
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

/// This node's view of the members, the leaving nodes among them.
std::shared_ptr<const membership> membership_of(const node_config& cfg) {
  return std::make_shared<const membership>(cfg.store_nodes(), cfg.listen,
                                            cfg.leaving);
}

/// True when this node's listen address is a member or a leaving node: it
/// holds keys, behind a member guard.
bool holds_keys(const node_config& cfg, const membership& m) {
  return m.self() != membership::none
         || (!cfg.listen.empty()
             && std::find(cfg.leaving.begin(), cfg.leaving.end(), cfg.listen)
                  != cfg.leaving.end());
}

peer_actor spawn_peer_for(caf::actor_system& sys, const node_config& cfg,
                          const store_handles& store,
                          const std::string& name) {
  peer_settings settings;
  settings.name = name;
  split_host_port(name, settings.host, settings.port);
  settings.tls = cfg.tls.enabled();
  settings.request_timeout = cfg.request_timeout;
  settings.dial_at_start = false; // start_node starts them once published
  // A reply later than this is not waited for (its slot is freed): far
  // beyond any store's answer, short enough that a remote that lost
  // requests does not keep their slots for long.
  settings.late_reply_wait =
    std::max(std::chrono::milliseconds{60'000}, cfg.request_timeout * 10);
  // Every node of a cluster runs the same limits: the peer's store takes
  // batches as large as this node's.
  if (store.owners)
    settings.max_coalesced = store.owners->max_batch_keys;
  return spawn_peer(sys, std::move(settings));
}

/// Only the owner of a key changes it; a delete elsewhere is a copy handed
/// to its new owner and dropped, not a change of the key.
std::function<bool(const change_event&)>
owned_changes(std::shared_ptr<const membership> m, size_t source) {
  return [m, source](const change_event& e) { return m->is_change(e, source); };
}

void start_cluster(caf::actor_system& sys, const node_config& cfg,
                   const store_handles& store, const std::string& marker,
                   node_handles& out) {
  auto m = membership_of(cfg);
  // One peer actor per other member, then one per leaving node: they hold
  // keys to pull but own none, so the router never sends them requests.
  std::vector<size_t> member_of_peer;
  for (size_t i = 0; i < m->members().size(); ++i) {
    if (i == m->self())
      continue; // this node's own share: no need to dial ourselves
    out.peers.push_back(spawn_peer_for(sys, cfg, store, m->members()[i]));
    out.peer_names.push_back(m->members()[i]);
    member_of_peer.push_back(i);
  }
  for (auto& name : m->leaving()) {
    if (name == cfg.listen)
      continue;
    out.peers.push_back(spawn_peer_for(sys, cfg, store, name));
    out.peer_names.push_back(name);
  }
  if (holds_keys(cfg, *m)) {
    member_guard_settings g;
    g.local = store.router;
    g.members = m;
    for (size_t i = 0; i < out.peers.size(); ++i)
      g.sources.push_back(handoff_source{
        out.peer_names[i], caf::actor_cast<member_actor>(out.peers[i])});
    g.marker_path = marker;
    g.shared_store = store.shared;
    // A claim reads its batch here and at each source as one batch_get:
    // never more keys than the stores take (http.max_batch_keys), or every
    // claim is refused and the handoff never ends.
    if (store.owners)
      g.claim_batch = std::min(g.claim_batch,
                               std::max<size_t>(1, store.owners->max_batch_keys));
    g.timeout = fan_out_timeout(cfg);
    // Half a request's time to wait for a source that cannot be reached,
    // so the caller still hears why before its own deadline.
    g.claim_patience = cfg.request_timeout / 2;
    out.guard = spawn_member_guard(sys, std::move(g));
    out.owned.push_back(caf::actor_cast<caf::actor>(out.guard));
  }
  cluster_members members;
  members.names = m->members();
  members.local_shards = store.shards;
  members.stores.resize(m->members().size());
  if (m->self() != membership::none)
    members.stores[m->self()] = caf::actor_cast<state_actor>(out.guard);
  for (size_t k = 0; k < member_of_peer.size(); ++k)
    members.stores[member_of_peer[k]] =
      caf::actor_cast<state_actor>(out.peers[k]);
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
  auto relay = [&](std::string name, state_actor source, peer_actor peer,
                   std::function<bool(const change_event&)> keep) {
    watch_relay_settings r;
    r.name = std::move(name);
    r.source = std::move(source);
    r.peer = std::move(peer);
    r.target = out.hub;
    r.keep = std::move(keep);
    out.owned.push_back(spawn_watch_relay(sys, std::move(r)));
  };
  // A leaving node owns nothing: every delete of its store is a drop.
  relay("local", store.router, {},
        out.guard ? owned_changes(m, m->self()) : nullptr);
  for (size_t k = 0; k < member_of_peer.size(); ++k)
    relay(out.peer_names[k], caf::actor_cast<state_actor>(out.peers[k]),
          out.peers[k], owned_changes(m, member_of_peer[k]));
  out.front = spawn_cluster_router(sys, std::move(members), limits, out.hub);
  out.front_owners = nullptr;
  out.metrics = spawn_cluster_metrics(sys, store.metrics, out.peers, out.guard,
                                      timeout);
  out.owned.push_back(caf::actor_cast<caf::actor>(out.front));
  out.owned.push_back(caf::actor_cast<caf::actor>(out.metrics));
}

} // namespace

caf::expected<node_handles> start_node(caf::actor_system& sys,
                                       const node_config& cfg,
                                       const store_handles& store,
                                       const std::string& handoff_marker) {
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
  if (store.shared && !cfg.store_nodes().empty()
      && holds_keys(cfg, *membership_of(cfg)))
    return make_state_error(
      state_errc::bad_request,
      "node: this node would hold a share of a partitioned cluster "
      "(node.members, or its node.listen among node.peers) on the "
      + store.backend + " engine, which every node shares: the handoff "
      "would delete the keys it moves. Run shared-engine nodes without "
      "node.members and node.peers");
  if (!cfg.store_nodes().empty()) {
    start_cluster(sys, cfg, store, handoff_marker, out);
    spdlog::info("node: cluster of {} store nodes, request_timeout={}ms",
                 cfg.store_nodes().size(), cfg.request_timeout.count());
  }
  if (!cfg.listen.empty()) {
    std::string host;
    uint16_t port = 0;
    split_host_port(cfg.listen, host, port);
    // Peers must reach a store, never another cluster router: two cluster
    // routers asking each other would fan list and health out forever. So a
    // member (or leaving node) publishes its member guard, which serves its
    // own keys only (member_guard.hpp); only a pure front (not among the
    // members) publishes its cluster router, for remote solver clients.
    auto published = store.router;
    const char* what = "store";
    if (out.guard) {
      published = caf::actor_cast<state_actor>(out.guard);
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
  // Only now the peers dial: publishing goes through the middleman actor
  // that also dials, so a dial started earlier could stand between the node
  // and its own port.
  for (auto& p : out.peers)
    caf::anon_send(p, peer_retry_atom_v);
  return out;
}

std::string handoff_marker_for(const state_config& state,
                               const node_config& node) {
  if (state.type == "file")
    return state.file.base_path + "/~cluster-handoff";
  if (state.type == "rocksdb")
    return state.rocksdb.base_path + "/~cluster-handoff";
  if (state.type == "memory" && !node.state_dir.empty()) {
    auto name = node.listen;
    std::replace(name.begin(), name.end(), ':', '_');
    std::replace(name.begin(), name.end(), '/', '_');
    return node.state_dir + "/cluster-handoff-" + name;
  }
  return {};
}

void stop_node(caf::actor_system& sys, node_handles& node) {
  if (node.port != 0) {
    // Bounded (transport.hpp): the middleman actor it asks may be busy.
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
