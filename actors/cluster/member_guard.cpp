// The member guard: serves a key only when this node owns it under the
// configured member list, else answers bad_request naming the owner.

#include "actors/cluster/member_guard.hpp"

#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster/placement.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"
#include "messages/protocol.hpp"

namespace solver_state {

namespace {

struct membership {
  rendezvous_placement placement;
  std::vector<std::string> names;
  size_t self = 0;

  /// Empty when this node owns `key`.
  caf::error misdirected(std::string_view key) const {
    return verdict(key, placement.owner(key));
  }
  caf::error misdirected_group(std::string_view group,
                               std::string_view what) const {
    return verdict(what, placement.owner_of_group(group));
  }

private:
  caf::error verdict(std::string_view what, size_t owner) const {
    if (owner == self)
      return {};
    return make_state_error(
      state_errc::bad_request,
      "'" + std::string{what} + "' belongs to node " + names[owner]
        + ", not to " + names[self]
        + ": the sender's member list differs from this node's (every node "
          "must list the same node.peers in the same spelling)");
  }
};

using guard = state_actor::pointer;

/// Delegates to `local` when `err` is empty, else answers `err`.
template <class Result, class... Ts>
caf::result<Result> checked(guard self, const state_actor& local,
                            caf::error err, Ts&&... xs) {
  if (err)
    return err;
  return self->delegate(local, std::forward<Ts>(xs)...);
}

state_actor::behavior_type
member_guard(guard self, state_actor local,
             std::shared_ptr<const membership> m) {
  return {
    [=](get_atom, std::string& key) -> caf::result<entry> {
      return checked<entry>(self, local, m->misdirected(key), get_atom_v,
                            std::move(key));
    },
    [=](put_atom, set_request& req) -> caf::result<write_result> {
      return checked<write_result>(self, local, m->misdirected(req.key),
                                   put_atom_v, std::move(req));
    },
    [=](delete_atom, delete_request& req) -> caf::result<bool> {
      return checked<bool>(self, local, m->misdirected(req.key), delete_atom_v,
                           std::move(req));
    },
    [=](list_atom, list_request& req) -> caf::result<key_page> {
      return self->delegate(local, list_atom_v, std::move(req));
    },
    [=](batch_get_atom, batch_request& req) -> caf::result<batch_reply> {
      for (auto& key : req.keys)
        if (auto err = m->misdirected(key))
          return err;
      return self->delegate(local, batch_get_atom_v, std::move(req));
    },
    [=](transact_atom,
        transaction_request& req) -> caf::result<transaction_reply> {
      for (auto& op : req.ops)
        if (auto err = m->misdirected(op.key))
          return err;
      return self->delegate(local, transact_atom_v, std::move(req));
    },
    [=](delete_atom,
        delete_prefix_request& req) -> caf::result<delete_prefix_result> {
      return self->delegate(local, delete_atom_v, std::move(req));
    },
    [=](query_atom, query_request& req) -> caf::result<query_page> {
      return self->delegate(local, query_atom_v, std::move(req));
    },
    [=](put_atom, order& x) -> caf::result<version_t> {
      auto key = order_key(x.order_type, x.order_id);
      return checked<version_t>(self, local, m->misdirected(key), put_atom_v,
                                std::move(x));
    },
    [=](get_atom, order_ref& x) -> caf::result<order> {
      auto key = order_key(x.order_type, x.order_id);
      return checked<order>(self, local, m->misdirected(key), get_atom_v,
                            std::move(x));
    },
    [=](delete_atom, order_ref& x) -> caf::result<bool> {
      auto key = order_key(x.order_type, x.order_id);
      return checked<bool>(self, local, m->misdirected(key), delete_atom_v,
                           std::move(x));
    },
    [=](list_atom, orders_of& x) -> caf::result<id_list> {
      return self->delegate(local, list_atom_v, std::move(x));
    },
    [=](put_atom, fill& x) -> caf::result<version_t> {
      auto key = fill_key(x.order_id, x.tx_hash);
      return checked<version_t>(self, local, m->misdirected(key), put_atom_v,
                                std::move(x));
    },
    [=](get_atom, fill_ref& x) -> caf::result<fill> {
      auto key = fill_key(x.order_id, x.tx_hash);
      return checked<fill>(self, local, m->misdirected(key), get_atom_v,
                           std::move(x));
    },
    [=](list_atom, fills_of& x) -> caf::result<id_list> {
      auto err = m->misdirected_group(x.order_id, fills_prefix(x.order_id));
      return checked<id_list>(self, local, std::move(err), list_atom_v,
                              std::move(x));
    },
    [=](put_atom, settlement& x) -> caf::result<version_t> {
      auto key = settlement_key(x.order_id, x.claim_hash);
      return checked<version_t>(self, local, m->misdirected(key), put_atom_v,
                                std::move(x));
    },
    [=](get_atom, settlement_ref& x) -> caf::result<settlement> {
      auto key = settlement_key(x.order_id, x.claim_hash);
      return checked<settlement>(self, local, m->misdirected(key), get_atom_v,
                                 std::move(x));
    },
    [=](list_atom, settlements_of& x) -> caf::result<id_list> {
      auto err = m->misdirected_group(x.order_id,
                                      settlements_prefix(x.order_id));
      return checked<id_list>(self, local, std::move(err), list_atom_v,
                              std::move(x));
    },
    [=](put_atom, component_state& x) -> caf::result<version_t> {
      auto key = state_key(x.component, x.key);
      return checked<version_t>(self, local, m->misdirected(key), put_atom_v,
                                std::move(x));
    },
    [=](get_atom, component_key& x) -> caf::result<component_state> {
      auto key = state_key(x.component, x.key);
      return checked<component_state>(self, local, m->misdirected(key),
                                      get_atom_v, std::move(x));
    },
    [=](watch_atom, watch_request& req,
        watcher_actor& watcher) -> caf::result<watch_started> {
      return self->delegate(local, watch_atom_v, std::move(req),
                            std::move(watcher));
    },
    [=](health_atom) -> caf::result<health_report> {
      return self->delegate(local, health_atom_v);
    },
  };
}

} // namespace

state_actor spawn_member_guard(caf::actor_system& sys, state_actor local,
                               std::vector<std::string> members,
                               std::string self) {
  auto m = std::make_shared<membership>(
    membership{rendezvous_placement{members}, members, 0});
  for (size_t i = 0; i < members.size(); ++i)
    if (members[i] == self)
      m->self = i;
  return sys.spawn(member_guard, std::move(local),
                   std::shared_ptr<const membership>{std::move(m)});
}

} // namespace solver_state
