// Collector actors for fan-out requests: each sends one list, batch_get or
// health request per owner (shard or store node), merges, answers and quits.

#include "actors/fan_out.hpp"

#include <memory>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/merge.hpp"

namespace solver_state {

namespace {

/// Sends `msg...` to every owner and calls `done` once: with all replies in
/// owner order, or with the first error.
template <class Reply, class Self, class Owner, class Done, class... Ts>
void gather(Self* self, const ownership<Owner>& map, Done done, Ts... msg) {
  struct progress {
    std::vector<Reply> replies;
    size_t missing;
    bool failed = false;
  };
  auto p = std::make_shared<progress>();
  p->replies.resize(map.owners.size());
  p->missing = map.owners.size();
  if (map.owners.empty()) {
    done(caf::error{}, p->replies);
    return;
  }
  for (size_t i = 0; i < map.owners.size(); ++i)
    self->request(map.owners[i], map.timeout, msg...)
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

/// A collector for requests answered by merging one reply per owner.
template <class Collector, class Reply, class Atom, class Request,
          class Owner, class Merge>
typename Collector::behavior_type
merging(typename Collector::pointer self, ownership_ptr<Owner> map,
        Merge merge) {
  return {
    [=](Atom atom, const Request& req) -> caf::result<Reply> {
      auto rp = self->template make_response_promise<Reply>();
      gather<Reply>(
        self, *map,
        [=](const caf::error& err, std::vector<Reply>& replies) mutable {
          if (err)
            rp.deliver(err);
          else
            rp.deliver(merge(req, replies));
          self->quit();
        },
        atom, req);
      return rp;
    },
  };
}

template <class Owner>
health_collector::behavior_type health_fan_out(health_collector::pointer self,
                                               ownership_ptr<Owner> map) {
  return {
    [=](health_atom) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      gather<std::string>(
        self, *map,
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

template <class Owner>
batch_collector::behavior_type batch_fan_out(batch_collector::pointer self,
                                             ownership_ptr<Owner> map) {
  return {
    [=](batch_get_atom, batch_request& req) -> caf::result<batch_reply> {
      // One part per owner; `slots` remembers where each answer goes.
      struct progress {
        std::vector<std::vector<size_t>> slots;
        batch_reply out;
        size_t missing = 0;
        bool failed = false;
      };
      auto n = map->owners.size();
      auto p = std::make_shared<progress>();
      p->slots.resize(n);
      p->out.entries.resize(req.keys.size());
      std::vector<batch_request> parts(n);
      for (size_t i = 0; i < req.keys.size(); ++i) {
        auto owner = map->owner_of_key(req.keys[i]);
        parts[owner].keys.emplace_back(std::move(req.keys[i]));
        p->slots[owner].push_back(i);
      }
      for (auto& part : parts)
        p->missing += part.keys.empty() ? 0 : 1;
      if (p->missing == 0) {
        self->quit();
        return batch_reply{};
      }
      auto rp = self->make_response_promise<batch_reply>();
      for (size_t t = 0; t < n; ++t) {
        if (parts[t].keys.empty())
          continue;
        self
          ->request(map->owners[t], map->timeout, batch_get_atom_v,
                    std::move(parts[t]))
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

} // namespace

template <class Owner>
list_collector spawn_list_collector(caf::actor_system& sys,
                                    ownership_ptr<Owner> map) {
  auto merge = [](const list_request& req, std::vector<key_page>& pages) {
    return merge_pages(pages, req.limit);
  };
  return sys.spawn(
    merging<list_collector, key_page, list_atom, list_request, Owner,
            decltype(merge)>,
    std::move(map), merge);
}

template <class Owner>
ids_collector spawn_ids_collector(caf::actor_system& sys,
                                  ownership_ptr<Owner> map) {
  auto merge = [](const orders_of&, std::vector<id_list>& lists) {
    return merge_ids(lists);
  };
  return sys.spawn(merging<ids_collector, id_list, list_atom, orders_of, Owner,
                           decltype(merge)>,
                   std::move(map), merge);
}

template <class Owner>
batch_collector spawn_batch_collector(caf::actor_system& sys,
                                      ownership_ptr<Owner> map) {
  return sys.spawn(batch_fan_out<Owner>, std::move(map));
}

template <class Owner>
health_collector spawn_health_collector(caf::actor_system& sys,
                                        ownership_ptr<Owner> map) {
  return sys.spawn(health_fan_out<Owner>, std::move(map));
}

#define SOLVER_STATE_FAN_OUT_FOR(Owner)                                        \
  template list_collector spawn_list_collector<Owner>(caf::actor_system&,      \
                                                      ownership_ptr<Owner>);   \
  template ids_collector spawn_ids_collector<Owner>(caf::actor_system&,        \
                                                    ownership_ptr<Owner>);     \
  template batch_collector spawn_batch_collector<Owner>(caf::actor_system&,    \
                                                        ownership_ptr<Owner>); \
  template health_collector spawn_health_collector<Owner>(                     \
    caf::actor_system&, ownership_ptr<Owner>);

SOLVER_STATE_FAN_OUT_FOR(shard_actor)
SOLVER_STATE_FAN_OUT_FOR(state_actor)

#undef SOLVER_STATE_FAN_OUT_FOR

} // namespace solver_state
