// The key-router behaviour behind the local and the cluster router: delegates
// single-key and typed operations to the key's owner, fans the rest out
// (list, batch_get, delete by prefix, health).

#include "actors/key_router.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <type_traits>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/fan_out.hpp"
#include "actors/owner_routing.hpp"
#include "actors/transaction_coordinator.hpp"
#include "actors/transaction_rules.hpp"
#include "actors/unsure_outcome.hpp"
#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

template <class Owner>
struct key_router_state {
  static inline const char* name = "solver-state.router";
  ownership_ptr<Owner> map;

  const Owner& owner(std::string_view key) const {
    return map->owners[map->owner_of_key(key)];
  }

  const Owner& owner_of_group(std::string_view group) const {
    return map->owners[map->owner_of_group(group)];
  }

  /// The one owner of every key of `req`, if there is one.
  const Owner* single_owner(const batch_request& req) const {
    if (req.keys.empty())
      return nullptr;
    auto first = map->owner_of_key(req.keys.front());
    for (auto& key : req.keys)
      if (map->owner_of_key(key) != first)
        return nullptr;
    return &map->owners[first];
  }

  /// The index of the one owner of every key of `req`, or none.
  std::optional<size_t> single_owner(const transaction_request& req) const {
    if (req.ops.empty())
      return size_t{0}; // the owner refuses it with a clear error
    auto first = map->owner_of_key(req.ops.front().key);
    for (auto& op : req.ops)
      if (map->owner_of_key(op.key) != first)
        return std::nullopt;
    return first;
  }
};

/// The shard that counts a transaction this router answers itself, by its
/// first key; none where the router has no shard to count at.
template <class Owner>
const shard_actor* counting_shard(const key_router_state<Owner>& st,
                                  const transaction_request& req) {
  if (req.ops.empty())
    return nullptr;
  auto& key = req.ops.front().key;
  if constexpr (std::is_same_v<Owner, shard_actor>) {
    return &st.owner(key);
  } else {
    auto& shards = st.map->counting_shards;
    if (shards.empty())
      return nullptr;
    return &shards[shard_index(key, shards.size())];
  }
}

/// Answers `req` with `err` from the router itself, counted once in
/// state_operations_total with that answer (docs/api.md: a transaction
/// counts once, with the answer its client gets), as the coordinator counts
/// the transactions it runs. Uncounted, the refusals never showed: no
/// result="cross_node_transaction" at all, and a store's bad_request count
/// missed every transaction refused over several shards.
template <class Owner, class Self>
caf::error refused(Self* self, const key_router_state<Owner>& st,
                   const transaction_request& req,
                   std::chrono::steady_clock::time_point started,
                   caf::error err) {
  if (auto* shard = counting_shard(st, req)) {
    auto took = std::chrono::duration_cast<caf::timespan>(
      std::chrono::steady_clock::now() - started);
    self->send(*shard, txn_done_atom_v, err, took);
  }
  return err;
}

/// The error for a transaction over several shards of a durable store
/// that cannot yet make one durable as a unit.
caf::error other_shards(const transaction_request& req) {
  return make_state_error(
    state_errc::bad_request,
    "the keys of this transaction (first '" + req.ops.front().key
      + "') are in more than one shard, and this backend applies a "
        "transaction within one shard only; keys that change together must "
        "share a placement group: the order id, or a {tag} in the key");
}

/// The error for a transaction whose keys live on several nodes.
caf::error cross_node(const transaction_request& req) {
  return make_state_error(
    state_errc::cross_node_transaction,
    "the keys of this transaction (" + std::to_string(req.ops.size())
      + " operations, first '" + req.ops.front().key
      + "') are owned by more than one node; keys that change together "
        "must share a placement group: the order id, or a {tag} in the key");
}

/// A transaction over several shards of a shared backend: the first key's
/// shard applies all of it; then every other shard whose keys it wrote
/// reads them again into its indexes, before the caller hears of it (so a
/// query it sends next sees the writes).
template <class Owner, class Self>
caf::result<transaction_reply>
apply_by_first_owner(Self* self, key_router_state<Owner>& st,
                     transaction_request&& req) {
  auto& map = *st.map;
  auto first = map.owner_of_key(req.ops.front().key);
  if constexpr (!std::is_same_v<Owner, shard_actor>) {
    return self->delegate(map.owners[first], transact_atom_v, std::move(req));
  } else {
    std::map<size_t, batch_request> others;
    for (auto& op : req.ops)
      if (auto owner = map.owner_of_key(op.key); owner != first)
        others[owner].keys.push_back(op.key);
    auto rp = self->template make_response_promise<transaction_reply>();
    self->request(map.owners[first], map.timeout, transact_atom_v,
                  std::move(req))
      .then(
        [=, map = st.map](transaction_reply& reply) mutable {
          for (auto& [owner, keys] : others)
            self->template send<caf::message_priority::high>(map->owners[owner],
                                                    reindex_atom_v, keys);
          rp.deliver(std::move(reply));
        },
        [=, map = st.map](caf::error& err) mutable {
          // Failed, it may still have been applied (out of time, a lost
          // connection, Redis's WAIT short of replicas after the script
          // ran): the other shards read their keys again all the same. A
          // refusal (a condition, a limit, a full store, a backend that
          // runs no transaction) applied nothing: no read of the backend.
          // At high priority, as the shards' exit goes at a stop: ahead
          // of it, the indexes they keep have read these keys.
          if (may_have_applied(err))
            for (auto& [owner, keys] : others)
              self->template send<caf::message_priority::high>(map->owners[owner],
                                                      reindex_atom_v, keys);
          rp.deliver(std::move(err));
        });
    return rp;
  }
}

template <class Owner>
state_actor::behavior_type
key_router(typename state_actor::stateful_pointer<key_router_state<Owner>> self,
           ownership_ptr<Owner> map, bool link_owners) {
  if (link_owners)
    for (auto& owner : map->owners)
      self->link_to(owner);
  auto& st = self->state;
  st.map = std::move(map);
  auto& sys = self->system();
  return {
    // -- key-value: the owner answers -------------------------------------------
    [=, &st](get_atom, std::string& key) {
      return self->delegate(st.owner(key), get_atom_v, std::move(key));
    },
    // -- watches: the node's hub answers ------------------------------------------
    [=, &st](watch_atom, watch_request& req,
             watcher_actor& watcher) -> caf::result<watch_started> {
      if (!st.map->hub)
        return make_state_error(state_errc::backend_unavailable,
                                "this node serves no watches");
      return self->delegate(st.map->hub, watch_atom_v, std::move(req),
                            std::move(watcher));
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
      return self->delegate(spawn_list_collector(sys, st.map), list_atom_v,
                            std::move(req));
    },
    [=, &st, &sys](query_atom, query_request& req) {
      // As a listing: one placement group, one owner.
      if (auto group = group_of_prefix(req.prefix); !group.empty())
        return self->delegate(st.owner_of_group(group), query_atom_v,
                              std::move(req));
      if (st.map->owners.size() == 1)
        return self->delegate(st.map->owners.front(), query_atom_v,
                              std::move(req));
      return self->delegate(spawn_query_collector(sys, st.map), query_atom_v,
                            std::move(req));
    },
    [=, &st, &sys](delete_atom, delete_prefix_request& req) {
      // Like a listing: the keys under a prefix inside one placement group
      // have one owner; any other prefix may have keys on every owner.
      if (auto group = group_of_prefix(req.prefix); !group.empty())
        return self->delegate(st.owner_of_group(group), delete_atom_v,
                              std::move(req));
      return self->delegate(spawn_delete_prefix_collector(sys, st.map),
                            delete_atom_v, std::move(req));
    },
    [=, &st, &sys](batch_get_atom, batch_request& req) {
      // A batch owned by one owner (the fills of one order, or any batch on
      // a single-owner store) needs no collector.
      if (auto owner = st.single_owner(req); owner)
        return self->delegate(*owner, batch_get_atom_v, std::move(req));
      return self->delegate(spawn_batch_collector(sys, st.map),
                            batch_get_atom_v, std::move(req));
    },
    [=, &st, &sys](transact_atom, transaction_request& req)
      -> caf::result<transaction_reply> {
      if (auto owner = st.single_owner(req))
        return self->delegate(st.map->owners[*owner], transact_atom_v,
                              std::move(req));
      auto started = std::chrono::steady_clock::now();
      // A malformed transaction is told so before where its keys live.
      transaction_limits limits{st.map->max_batch_keys,
                                st.map->max_value_bytes,
                                st.map->max_reply_bytes};
      if (auto err = transaction_problem(req, limits))
        return refused(self, st, req, started, std::move(err));
      switch (st.map->spanning) {
        case spanning_transactions::first_owner_applies:
          return apply_by_first_owner(self, st, std::move(req));
        case spanning_transactions::coordinate:
          return self->delegate(spawn_transaction_coordinator(sys, st.map),
                                transact_atom_v, std::move(req));
        case spanning_transactions::one_shard_only:
          return refused(self, st, req, started, other_shards(req));
        default:
          return refused(self, st, req, started, cross_node(req));
      }
    },
    // -- typed records: the owner of the derived key answers ------------------------
    to_owner<put_atom, order>(self, st),
    to_owner<get_atom, order_ref>(self, st),
    to_owner<delete_atom, order_ref>(self, st),
    [=, &st, &sys](list_atom, orders_of& q) {
      return self->delegate(spawn_ids_collector(sys, st.map), list_atom_v,
                            std::move(q));
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
      return self->delegate(spawn_health_collector(sys, st.map),
                            health_atom_v);
    },
  };
}

} // namespace

template <class Owner>
state_actor spawn_key_router(caf::actor_system& sys, ownership_ptr<Owner> map,
                             bool link_owners) {
  return sys.spawn(key_router<Owner>, std::move(map), link_owners);
}

template state_actor
spawn_key_router<shard_actor>(caf::actor_system&, ownership_ptr<shard_actor>,
                              bool);
template state_actor
spawn_key_router<state_actor>(caf::actor_system&, ownership_ptr<state_actor>,
                              bool);

} // namespace solver_state
