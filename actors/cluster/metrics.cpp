// A node's metrics actor with peers: forwards reports and appends each
// peer's connection state and request counters to every rendering.

#include "actors/cluster/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "util/prometheus_text.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

std::string label(const std::string& peer) {
  return escape_label(peer);
}

void family(std::string& out, const char* name, const char* type,
            const char* help) {
  append_family_header(out, name, help, type);
}

std::string seconds_text(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

template <class F>
void per_peer(std::string& out, const std::vector<peer_stats>& peers,
              const char* name, F value) {
  for (auto& p : peers)
    out += std::string{name} + "{peer=\"" + label(p.peer) + "\"} "
           + std::to_string(value(p)) + "\n";
}

} // namespace

std::string render_peer_metrics(const std::vector<peer_stats>& peers) {
  std::string out;
  family(out, "state_peer_up", "gauge",
         "1 while this node is connected to the peer store node.");
  per_peer(out, peers, "state_peer_up",
           [](const peer_stats& p) { return p.up ? 1 : 0; });
  family(out, "state_peer_connects_total", "counter",
         "Connections established to the peer.");
  per_peer(out, peers, "state_peer_connects_total",
           [](const peer_stats& p) { return p.connects; });
  family(out, "state_peer_in_flight", "gauge",
         "Requests sent to the peer and not yet answered.");
  per_peer(out, peers, "state_peer_in_flight",
           [](const peer_stats& p) { return p.in_flight; });
  family(out, "state_peer_queued", "gauge",
         "Requests waiting for a free slot in the peer's window.");
  per_peer(out, peers, "state_peer_queued",
           [](const peer_stats& p) { return p.queued; });
  family(out, "state_peer_requests_total", "counter",
         "Requests forwarded to the peer, by result.");
  for (auto& p : peers)
    for (size_t code = 0; code < p.results.size(); ++code) {
      if (p.results[code] == 0)
        continue;
      auto result = code == 0 ? "ok" : to_string(static_cast<state_errc>(code));
      out += "state_peer_requests_total{peer=\"" + label(p.peer)
             + "\",result=\"" + result + "\"} "
             + std::to_string(p.results[code]) + "\n";
    }
  return out;
}

std::string render_handoff_metrics(const handoff_stats& s) {
  std::string out;
  family(out, "state_handoff_active", "gauge",
         "1 while this node pulls the keys it owns from other nodes after a "
         "membership change.");
  out += "state_handoff_active " + std::to_string(s.active ? 1 : 0) + "\n";
  family(out, "state_handoff_sources_pending", "gauge",
         "Nodes this node has not yet pulled every key it owns from.");
  out += "state_handoff_sources_pending " + std::to_string(s.sources_pending)
         + "\n";
  family(out, "state_handoff_seconds", "gauge",
         "How long the running handoff has taken, or the last one took.");
  out += "state_handoff_seconds " + seconds_text(s.seconds) + "\n";
  family(out, "state_handoff_keys_in_total", "counter",
         "Keys this node took over from other nodes.");
  out += "state_handoff_keys_in_total " + std::to_string(s.keys_in) + "\n";
  family(out, "state_handoff_keys_out_total", "counter",
         "Keys this node handed over to their new owners.");
  out += "state_handoff_keys_out_total " + std::to_string(s.keys_out) + "\n";
  return out;
}

namespace {

metrics_actor::behavior_type cluster_metrics(metrics_actor::pointer self,
                                             metrics_actor local,
                                             std::vector<peer_actor> peers,
                                             member_guard_actor guard,
                                             std::chrono::milliseconds timeout) {
  return {
    [=](report_atom, const shard_report& r) {
      self->send(local, report_atom_v, r);
    },
    [=](report_atom, const watch_report& r) {
      self->send(local, report_atom_v, r);
    },
    [=](report_atom, const http_report& r) {
      self->send(local, report_atom_v, r);
    },
    [=](render_atom) -> caf::result<std::string> {
      struct progress {
        std::string text;
        std::vector<peer_stats> stats;
        std::string handoff;
        size_t missing;
      };
      auto p = std::make_shared<progress>();
      p->missing = peers.size() + 1 + (guard ? 1 : 0);
      auto rp = self->make_response_promise<std::string>();
      // A peer that cannot answer in time is left out rather than failing
      // the whole page; its state_peer_up is then missing, not stale.
      auto finish = [=]() mutable {
        if (--p->missing != 0)
          return;
        std::sort(p->stats.begin(), p->stats.end(),
                  [](const peer_stats& a, const peer_stats& b) {
                    return a.peer < b.peer;
                  });
        rp.deliver(p->text + render_peer_metrics(p->stats) + p->handoff);
      };
      self->request(local, timeout, render_atom_v)
        .then(
          [=](std::string& text) mutable {
            p->text = std::move(text);
            finish();
          },
          [=](caf::error&) mutable { finish(); });
      for (auto& peer : peers)
        self->request(peer, timeout, peer_stats_atom_v)
          .then(
            [=](peer_stats& s) mutable {
              p->stats.push_back(std::move(s));
              finish();
            },
            [=](caf::error&) mutable { finish(); });
      if (guard)
        self->request(guard, timeout, handoff_stats_atom_v)
          .then(
            [=](handoff_stats& s) mutable {
              p->handoff = render_handoff_metrics(s);
              finish();
            },
            [=](caf::error&) mutable { finish(); });
      return rp;
    },
  };
}

} // namespace

metrics_actor spawn_cluster_metrics(caf::actor_system& sys,
                                    metrics_actor local,
                                    std::vector<peer_actor> peers,
                                    member_guard_actor guard,
                                    std::chrono::milliseconds timeout) {
  return sys.spawn(cluster_metrics, std::move(local), std::move(peers),
                   std::move(guard), timeout);
}

} // namespace solver_state
