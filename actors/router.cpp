#include "actors/router.hpp"

#include <algorithm>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/merge.hpp"
#include "actors/owner_routing.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

// -- collectors: one per fanned-out request, gone after replying ------------------

using list_collector =
  caf::typed_actor<caf::replies_to<list_atom, list_request>::with<key_page>>;

using batch_collector =
  caf::typed_actor<caf::replies_to<batch_get_atom, batch_request>::with<batch_reply>>;

using ids_collector =
  caf::typed_actor<caf::replies_to<list_atom, orders_of>::with<id_list>>;

using health_collector =
  caf::typed_actor<caf::replies_to<health_atom>::with<std::string>>;

/// Asks every shard in `targets` with `msg...` and calls `done` with all
/// replies in target order, or with the first error.
template <class Reply, class Self, class Done, class... Ts>
void gather(Self* self, const std::vector<shard_actor>& targets, Done done,
            Ts... msg) {
  struct progress {
    std::vector<Reply> replies;
    size_t missing;
    bool failed = false;
  };
  auto p = std::make_shared<progress>();
  p->replies.resize(targets.size());
  p->missing = targets.size();
  for (size_t i = 0; i < targets.size(); ++i)
    self->request(targets[i], caf::infinite, msg...)
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

list_collector::behavior_type
list_fan_out(list_collector::pointer self, std::vector<shard_actor> targets) {
  return {
    [=](list_atom, const list_request& req) -> caf::result<key_page> {
      auto rp = self->make_response_promise<key_page>();
      gather<key_page>(
        self, targets,
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
                                         std::vector<shard_actor> targets) {
  return {
    [=](list_atom, const orders_of& q) -> caf::result<id_list> {
      auto rp = self->make_response_promise<id_list>();
      gather<id_list>(
        self, targets,
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
batch_fan_out(batch_collector::pointer self, std::vector<shard_actor> shards) {
  return {
    [=](batch_get_atom, batch_request& req) -> caf::result<batch_reply> {
      // Split the keys by shard, remembering where each answer goes.
      std::vector<batch_request> parts(shards.size());
      std::vector<std::vector<size_t>> slots(shards.size());
      for (size_t i = 0; i < req.keys.size(); ++i) {
        auto s = shard_index(req.keys[i], shards.size());
        parts[s].keys.emplace_back(std::move(req.keys[i]));
        slots[s].push_back(i);
      }
      std::vector<shard_actor> targets;
      std::vector<size_t> target_shard;
      for (size_t s = 0; s < shards.size(); ++s)
        if (!parts[s].keys.empty()) {
          targets.push_back(shards[s]);
          target_shard.push_back(s);
        }
      if (targets.empty()) {
        self->quit();
        return batch_reply{};
      }
      auto rp = self->make_response_promise<batch_reply>();
      auto total = req.keys.size();
      auto shared_parts = std::make_shared<std::vector<batch_request>>(
        std::move(parts));
      struct progress {
        std::vector<batch_reply> replies;
        size_t missing;
        bool failed = false;
      };
      auto p = std::make_shared<progress>();
      p->replies.resize(targets.size());
      p->missing = targets.size();
      auto finish = [=]() mutable {
        batch_reply out;
        out.entries.resize(total);
        for (size_t t = 0; t < targets.size(); ++t) {
          auto& entries = p->replies[t].entries;
          auto& where = slots[target_shard[t]];
          for (size_t j = 0; j < entries.size() && j < where.size(); ++j)
            out.entries[where[j]] = std::move(entries[j]);
        }
        rp.deliver(std::move(out));
        self->quit();
      };
      for (size_t t = 0; t < targets.size(); ++t)
        self
          ->request(targets[t], caf::infinite, batch_get_atom_v,
                    std::move((*shared_parts)[target_shard[t]]))
          .then(
            [=](batch_reply& r) mutable {
              p->replies[t] = std::move(r);
              if (--p->missing == 0 && !p->failed)
                finish();
            },
            [=](caf::error& err) mutable {
              if (!p->failed) {
                p->failed = true;
                rp.deliver(err);
                self->quit();
              }
            });
      return rp;
    },
  };
}

health_collector::behavior_type
health_fan_out(health_collector::pointer self,
               std::vector<shard_actor> targets) {
  return {
    [=](health_atom) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      gather<std::string>(
        self, targets,
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

// -- the router -------------------------------------------------------------------

struct router_state {
  static inline const char* name = "solver-state.router";
  std::vector<shard_actor> shards;

  const shard_actor& owner(std::string_view key) const {
    return shards[shard_index(key, shards.size())];
  }
};

using router_ptr = state_actor::stateful_pointer<router_state>;

state_actor::behavior_type router(router_ptr self,
                                  std::vector<shard_actor> shards) {
  for (auto& s : shards)
    self->link_to(s);
  self->state.shards = std::move(shards);
  auto& st = self->state;
  auto fan_out = [self](auto fun, auto... args) {
    return self->spawn(fun, self->state.shards, args...);
  };
  return {
    // -- key-value: the owner answers -------------------------------------------
    [=, &st](get_atom, std::string& key) {
      return self->delegate(st.owner(key), get_atom_v, std::move(key));
    },
    [=, &st](put_atom, set_request& req) {
      auto& dest = st.owner(req.key);
      return self->delegate(dest, put_atom_v, std::move(req));
    },
    [=, &st](delete_atom, delete_request& req) {
      auto& dest = st.owner(req.key);
      return self->delegate(dest, delete_atom_v, std::move(req));
    },
    [=, &st](list_atom, list_request& req) {
      if (auto group = group_of_prefix(req.prefix); !group.empty())
        return self->delegate(st.owner(group), list_atom_v, std::move(req));
      return self->delegate(fan_out(list_fan_out), list_atom_v,
                            std::move(req));
    },
    [=, &st](batch_get_atom, batch_request& req) {
      return self->delegate(fan_out(batch_fan_out), batch_get_atom_v,
                            std::move(req));
    },
    // -- typed records: the owner of the derived key answers ------------------------
    to_owner<put_atom, order>(self, st),
    to_owner<get_atom, order_ref>(self, st),
    to_owner<delete_atom, order_ref>(self, st),
    [=](list_atom, orders_of& q) {
      return self->delegate(fan_out(ids_fan_out), list_atom_v, std::move(q));
    },
    to_owner<put_atom, fill>(self, st),
    to_owner<get_atom, fill_ref>(self, st),
    to_owner<list_atom, fills_of>(self, st),
    to_owner<put_atom, settlement>(self, st),
    to_owner<get_atom, settlement_ref>(self, st),
    to_owner<list_atom, settlements_of>(self, st),
    to_owner<put_atom, component_state>(self, st),
    to_owner<get_atom, component_key>(self, st),
    // -- operations -------------------------------------------------------------------
    [=](health_atom) {
      return self->delegate(fan_out(health_fan_out), health_atom_v);
    },
  };
}

} // namespace

state_actor spawn_router(caf::actor_system& sys,
                         std::vector<shard_actor> shards) {
  return sys.spawn(router, std::move(shards));
}

} // namespace solver_state
