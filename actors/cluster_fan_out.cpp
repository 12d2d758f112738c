#include "actors/cluster_fan_out.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/merge.hpp"

namespace solver_state {

namespace {

using std::chrono::milliseconds;

/// Sends `msg...` to every target and calls `done` once: with all replies in
/// target order, or with the first error.
template <class Reply, class Self, class Done, class... Ts>
void gather(Self* self, const std::vector<state_actor>& targets,
            milliseconds timeout, Done done, Ts... msg) {
  struct progress {
    std::vector<Reply> replies;
    size_t missing;
    bool failed = false;
  };
  auto p = std::make_shared<progress>();
  p->replies.resize(targets.size());
  p->missing = targets.size();
  if (targets.empty()) {
    done(caf::error{}, p->replies);
    return;
  }
  for (size_t i = 0; i < targets.size(); ++i)
    self->request(targets[i], timeout, msg...)
      .then(
        [=](Reply& r) mutable {
          p->replies[i] = std::move(r);
          if (--p->missing == 0 && !p->failed)
            done(caf::error{}, p->replies);
        },
        [=](caf::error& err) mutable {
          if (!p->failed) {
            p->failed = true;
            done(err, p->replies);
          }
        });
}

list_collector::behavior_type list_fan_out(list_collector::pointer self,
                                           std::vector<state_actor> peers,
                                           milliseconds timeout) {
  return {
    [=](list_atom, const list_request& req) -> caf::result<key_page> {
      auto rp = self->make_response_promise<key_page>();
      gather<key_page>(
        self, peers, timeout,
        [=](const caf::error& err, std::vector<key_page>& pages) mutable {
          if (err)
            rp.deliver(err);
          else
            rp.deliver(merge_pages(pages, req.limit));
          self->quit();
        },
        list_atom_v, req);
      return rp;
    },
  };
}

ids_collector::behavior_type ids_fan_out(ids_collector::pointer self,
                                         std::vector<state_actor> peers,
                                         milliseconds timeout) {
  return {
    [=](list_atom, const orders_of& q) -> caf::result<id_list> {
      auto rp = self->make_response_promise<id_list>();
      gather<id_list>(
        self, peers, timeout,
        [=](const caf::error& err, std::vector<id_list>& lists) mutable {
          if (err)
            rp.deliver(err);
          else
            rp.deliver(merge_ids(lists));
          self->quit();
        },
        list_atom_v, q);
      return rp;
    },
  };
}

batch_collector::behavior_type
batch_fan_out(batch_collector::pointer self, std::vector<state_actor> peers,
              std::shared_ptr<const rendezvous_placement> placement,
              milliseconds timeout) {
  return {
    [=](batch_get_atom, batch_request& req) -> caf::result<batch_reply> {
      // One sub-request per owning peer; `slots` remembers where each
      // answer goes in the reply.
      struct progress {
        std::vector<std::vector<size_t>> slots;
        batch_reply out;
        size_t missing = 0;
        bool failed = false;
      };
      auto p = std::make_shared<progress>();
      p->slots.resize(peers.size());
      p->out.entries.resize(req.keys.size());
      std::vector<batch_request> parts(peers.size());
      for (size_t i = 0; i < req.keys.size(); ++i) {
        auto owner = placement->owner(req.keys[i]);
        parts[owner].keys.emplace_back(std::move(req.keys[i]));
        p->slots[owner].push_back(i);
      }
      auto rp = self->make_response_promise<batch_reply>();
      for (auto& part : parts)
        p->missing += part.keys.empty() ? 0 : 1;
      if (p->missing == 0) {
        rp.deliver(batch_reply{});
        self->quit();
        return rp;
      }
      for (size_t t = 0; t < peers.size(); ++t) {
        if (parts[t].keys.empty())
          continue;
        self->request(peers[t], timeout, batch_get_atom_v, std::move(parts[t]))
          .then(
            [=](batch_reply& r) mutable {
              auto& where = p->slots[t];
              for (size_t j = 0; j < r.entries.size() && j < where.size(); ++j)
                p->out.entries[where[j]] = std::move(r.entries[j]);
              if (--p->missing == 0 && !p->failed) {
                rp.deliver(std::move(p->out));
                self->quit();
              }
            },
            [=](caf::error& err) mutable {
              if (!p->failed) {
                p->failed = true;
                rp.deliver(err);
                self->quit();
              }
            });
      }
      return rp;
    },
  };
}

health_collector::behavior_type
health_fan_out(health_collector::pointer self, std::vector<state_actor> peers,
               milliseconds timeout) {
  return {
    [=](health_atom) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      gather<std::string>(
        self, peers, timeout,
        [=](const caf::error& err, std::vector<std::string>&) mutable {
          if (err)
            rp.deliver(err);
          else
            rp.deliver(std::string{"ok"});
          self->quit();
        },
        health_atom_v);
      return rp;
    },
  };
}

} // namespace

list_collector spawn_list_collector(caf::actor_system& sys,
                                    std::vector<state_actor> peers,
                                    milliseconds timeout) {
  return sys.spawn(list_fan_out, std::move(peers), timeout);
}

ids_collector spawn_ids_collector(caf::actor_system& sys,
                                  std::vector<state_actor> peers,
                                  milliseconds timeout) {
  return sys.spawn(ids_fan_out, std::move(peers), timeout);
}

batch_collector
spawn_batch_collector(caf::actor_system& sys, std::vector<state_actor> peers,
                      std::shared_ptr<const rendezvous_placement> placement,
                      milliseconds timeout) {
  return sys.spawn(batch_fan_out, std::move(peers), std::move(placement),
                   timeout);
}

health_collector spawn_health_collector(caf::actor_system& sys,
                                        std::vector<state_actor> peers,
                                        milliseconds timeout) {
  return sys.spawn(health_fan_out, std::move(peers), timeout);
}

} // namespace solver_state
