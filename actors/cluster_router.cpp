#include "actors/cluster_router.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster_fan_out.hpp"
#include "actors/cluster_placement.hpp"
#include "actors/owner_routing.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

struct cluster_router_state {
  static inline const char* name = "solver-state.cluster-router";
  std::vector<state_actor> stores;
  std::shared_ptr<const rendezvous_placement> placement;
  std::chrono::milliseconds timeout{0};

  const state_actor& owner(std::string_view key) const {
    return stores[placement->owner(key)];
  }

  const state_actor& owner_of_group(std::string_view group) const {
    return stores[placement->owner_of_group(group)];
  }

  /// The one store owning every key of `req`, if there is one.
  const state_actor* single_owner(const batch_request& req) const {
    if (req.keys.empty())
      return nullptr;
    auto first = placement->owner(req.keys.front());
    for (auto& key : req.keys)
      if (placement->owner(key) != first)
        return nullptr;
    return &stores[first];
  }
};

using cluster_router_ptr = state_actor::stateful_pointer<cluster_router_state>;

state_actor::behavior_type cluster_router(cluster_router_ptr self,
                                          cluster_members members,
                                          std::chrono::milliseconds timeout) {
  auto& st = self->state;
  st.stores = std::move(members.stores);
  st.placement = std::make_shared<rendezvous_placement>(std::move(members.names));
  st.timeout = timeout;
  auto& sys = self->system();
  // Delegating to a peer actor is safe: it is local and always answers
  // within node.request_timeout, unlike the remote router behind it.
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
    [=, &st, &sys](list_atom, list_request& req) {
      if (auto group = group_of_prefix(req.prefix); !group.empty())
        return self->delegate(st.owner_of_group(group), list_atom_v,
                              std::move(req));
      return self->delegate(spawn_list_collector(sys, st.stores, st.timeout),
                            list_atom_v, std::move(req));
    },
    [=, &st, &sys](batch_get_atom, batch_request& req) {
      // A batch owned by one store (always so with one peer, and for the
      // fills of one order) needs no collector.
      if (auto owner = st.single_owner(req); owner)
        return self->delegate(*owner, batch_get_atom_v, std::move(req));
      return self->delegate(spawn_batch_collector(sys, st.stores, st.placement,
                                                  st.timeout),
                            batch_get_atom_v, std::move(req));
    },
    // -- typed records: the owner of the derived key answers ------------------------
    to_owner<put_atom, order>(self, st),
    to_owner<get_atom, order_ref>(self, st),
    to_owner<delete_atom, order_ref>(self, st),
    [=, &st, &sys](list_atom, orders_of& q) {
      return self->delegate(spawn_ids_collector(sys, st.stores, st.timeout),
                            list_atom_v, std::move(q));
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
    [=, &st, &sys](health_atom) {
      return self->delegate(spawn_health_collector(sys, st.stores, st.timeout),
                            health_atom_v);
    },
  };
}

} // namespace

state_actor spawn_cluster_router(caf::actor_system& sys,
                                 cluster_members members,
                                 std::chrono::milliseconds timeout) {
  return sys.spawn(cluster_router, std::move(members), timeout);
}

} // namespace solver_state
