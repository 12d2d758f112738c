// The member guard: serves a key only when this node owns it under its
// member list, and only once it is claimed while a handoff runs.

#include "actors/cluster/member_guard.hpp"

#include <iterator>
#include <utility>

#include <caf/actor_system.hpp>

#include "actors/cluster/handoff.hpp"
#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

/// Delegates `xs...` to the local store once every key of `keys` is this
/// node's (claiming those that are not). Only reached during a handoff.
template <class Result, class... Ts>
caf::result<Result> after_claims(guard_ptr self,
                                 const std::vector<std::string>& keys,
                                 Ts... xs) {
  auto rp = self->make_response_promise<Result>();
  claim_keys(self, keys, [self, rp, xs...](const caf::error& err) mutable {
    if (err)
      rp.deliver(err);
    else
      rp.delegate(self->state.settings.local, std::move(xs)...);
  });
  return rp;
}

/// One key: refused unless owned, then served (once claimed, during a
/// handoff). `xs` are forwarded, so `key` may live in them: nothing is
/// moved before the checks, and outside a handoff nothing is copied.
template <class Result, class... Ts>
caf::result<Result> serve_key(guard_ptr self, const std::string& key,
                              Ts&&... xs) {
  auto& st = self->state;
  if (auto err = st.members().misdirected(key))
    return err;
  if (!st.active)
    return self->delegate(st.settings.local, std::forward<Ts>(xs)...);
  // Copied before the call: its parameters may move `key` out of `xs`.
  std::vector<std::string> keys{key};
  return after_claims<Result>(self, keys, std::forward<Ts>(xs)...);
}

/// Many keys of one request: all must be owned.
template <class Result, class... Ts>
caf::result<Result> serve_keys(guard_ptr self,
                               const std::vector<std::string>& keys,
                               Ts&&... xs) {
  auto& st = self->state;
  for (auto& key : keys)
    if (auto err = st.members().misdirected(key))
      return err;
  if (!st.active)
    return self->delegate(st.settings.local, std::forward<Ts>(xs)...);
  auto claimed = keys; // as in serve_key: `keys` may live in `xs`
  return after_claims<Result>(self, claimed, std::forward<Ts>(xs)...);
}

/// A batch_get whose keys this node owns up to some key: those first keys
/// are answered (once claimed, during a handoff) and that key and those
/// after it come back unprocessed, as when a reply is full. The sender asks
/// for them again, so each key not owned here is answered on its own
/// (backend_unavailable naming its owner, once it is first), and the reads
/// coalesced with it are served: during a rolling change one moved key
/// failed every read of its batch, naming another key's owner. Found by
/// review.
caf::result<batch_reply> serve_owned_prefix(guard_ptr self,
                                            batch_request& req, size_t owned) {
  auto& st = self->state;
  std::vector<std::string> rest(
    std::make_move_iterator(req.keys.begin() + owned),
    std::make_move_iterator(req.keys.end()));
  req.keys.resize(owned);
  auto rp = self->make_response_promise<batch_reply>();
  auto ask = [self, rp, rest = std::move(rest)](batch_request part) mutable {
    auto& st = self->state;
    self->request(st.settings.local, st.settings.timeout, batch_get_atom_v,
                  std::move(part))
      .then(
        [rp, rest](batch_reply& reply) mutable {
          reply.unprocessed.insert(reply.unprocessed.end(), rest.begin(),
                                   rest.end());
          rp.deliver(std::move(reply));
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  };
  if (!st.active) {
    ask(std::move(req));
    return rp;
  }
  auto claimed = req.keys;
  claim_keys(self, claimed,
             [rp, ask, req = std::move(req)](const caf::error& err) mutable {
               if (err)
                 rp.deliver(err);
               else
                 ask(std::move(req));
             });
  return rp;
}

caf::result<batch_reply> serve_batch_get(guard_ptr self, batch_request& req) {
  auto& m = self->state.members();
  size_t owned = 0;
  while (owned < req.keys.size() && !m.misdirected(req.keys[owned]))
    ++owned;
  if (owned == req.keys.size())
    return serve_keys<batch_reply>(self, req.keys, batch_get_atom_v,
                                   std::move(req));
  if (owned == 0)
    return m.misdirected(req.keys.front());
  return serve_owned_prefix(self, req, owned);
}

/// The keys of one placement group listed under `prefix`: during a handoff
/// the group's keys still held elsewhere are claimed first, so the list is
/// whole.
template <class Result, class... Ts>
caf::result<Result> serve_group(guard_ptr self, const std::string& group,
                                std::string prefix, Ts... xs) {
  auto& st = self->state;
  if (auto err = st.members().misdirected_group(group, prefix))
    return err;
  if (!st.active)
    return self->delegate(st.settings.local, std::move(xs)...);
  auto rp = self->make_response_promise<Result>();
  claim_prefix(self, std::move(prefix),
               [self, rp, xs...](const caf::error& err) mutable {
                 if (err)
                   rp.deliver(err);
                 else
                   rp.delegate(self->state.settings.local, std::move(xs)...);
               });
  return rp;
}

/// The placement group `prefix` names, when this node owns it; else empty.
std::string owned_group_of(guard_ptr self, std::string_view prefix) {
  auto group = group_of_prefix(prefix);
  auto& m = self->state.members();
  if (group.empty() || m.owner_of_group(group) != m.self())
    return {};
  return std::string{group};
}

/// A listing or a query: of a placement group's prefix on its owner, the
/// group's keys still held elsewhere are claimed first (serve_group); else
/// what this node holds.
template <class Result, class Atom, class Request>
caf::result<Result> serve_listing(guard_ptr self, Atom atom, Request& req) {
  if (auto group = owned_group_of(self, req.prefix); !group.empty()) {
    auto prefix = req.prefix;
    return serve_group<Result>(self, group, std::move(prefix), atom,
                               std::move(req));
  }
  return self->delegate(self->state.settings.local, atom, std::move(req));
}

std::vector<std::string> keys_of(const transaction_request& req) {
  std::vector<std::string> keys;
  keys.reserve(req.ops.size());
  for (auto& op : req.ops)
    keys.push_back(op.key);
  return keys;
}

member_guard_actor::behavior_type guard(guard_ptr self,
                                        member_guard_settings settings) {
  self->state.settings = std::move(settings);
  start_handoff(self);
  auto local = [self] { return self->state.settings.local; };
  return {
    // -- key-value -----------------------------------------------------------
    [=](get_atom, std::string& key) -> caf::result<entry> {
      return serve_key<entry>(self, key, get_atom_v, std::move(key));
    },
    [=](put_atom, set_request& req) -> caf::result<write_result> {
      return serve_key<write_result>(self, req.key, put_atom_v,
                                     std::move(req));
    },
    [=](delete_atom, delete_request& req) -> caf::result<bool> {
      return serve_key<bool>(self, req.key, delete_atom_v, std::move(req));
    },
    [=](batch_get_atom, batch_request& req) -> caf::result<batch_reply> {
      return serve_batch_get(self, req);
    },
    [=](transact_atom,
        transaction_request& req) -> caf::result<transaction_reply> {
      auto keys = keys_of(req);
      return serve_keys<transaction_reply>(self, keys, transact_atom_v,
                                           std::move(req));
    },
    // A listing asks every member, and each lists what it holds (copies
    // not yet handed over included; the merge keeps one of each key). A
    // placement group's prefix goes to its owner alone (key_router): there
    // the group's keys still held elsewhere are claimed first, as for
    // fills_of, or the page would leave them out. Elsewhere (a holder
    // asked by that claim) it lists what this node holds.
    [=](list_atom, list_request& req) -> caf::result<key_page> {
      return serve_listing<key_page>(self, list_atom_v, req);
    },
    [=](query_atom, query_request& req) -> caf::result<query_page> {
      return serve_listing<query_page>(self, query_atom_v, req);
    },
    [=](delete_atom,
        delete_prefix_request& req) -> caf::result<delete_prefix_result> {
      // Keys under the prefix may still be moving to this node; deleting
      // here and at their holder could race with the move and bring one
      // back. Callers retry once the handoff is over (seconds).
      if (self->state.active)
        return make_state_error(state_errc::backend_unavailable,
                                "delete by prefix waits for the handoff of "
                                "keys to "
                                  + self->state.members().self_name()
                                  + " after a membership change; retry");
      return self->delegate(local(), delete_atom_v, std::move(req));
    },
    // -- typed records -------------------------------------------------------
    [=](put_atom, order& x) -> caf::result<version_t> {
      auto key = order_key(x.order_type, x.order_id);
      return serve_key<version_t>(self, key, put_atom_v, std::move(x));
    },
    [=](get_atom, order_ref& x) -> caf::result<order> {
      auto key = order_key(x.order_type, x.order_id);
      return serve_key<order>(self, key, get_atom_v, std::move(x));
    },
    [=](delete_atom, order_ref& x) -> caf::result<bool> {
      auto key = order_key(x.order_type, x.order_id);
      return serve_key<bool>(self, key, delete_atom_v, std::move(x));
    },
    [=](list_atom, orders_of& x) -> caf::result<id_list> {
      return self->delegate(local(), list_atom_v, std::move(x));
    },
    [=](put_atom, fill& x) -> caf::result<version_t> {
      auto key = fill_key(x.order_id, x.tx_hash);
      return serve_key<version_t>(self, key, put_atom_v, std::move(x));
    },
    [=](get_atom, fill_ref& x) -> caf::result<fill> {
      auto key = fill_key(x.order_id, x.tx_hash);
      return serve_key<fill>(self, key, get_atom_v, std::move(x));
    },
    [=](list_atom, fills_of& x) -> caf::result<id_list> {
      auto group = x.order_id;
      return serve_group<id_list>(self, group, fills_prefix(group),
                                  list_atom_v, std::move(x));
    },
    [=](put_atom, settlement& x) -> caf::result<version_t> {
      auto key = settlement_key(x.order_id, x.claim_hash);
      return serve_key<version_t>(self, key, put_atom_v, std::move(x));
    },
    [=](get_atom, settlement_ref& x) -> caf::result<settlement> {
      auto key = settlement_key(x.order_id, x.claim_hash);
      return serve_key<settlement>(self, key, get_atom_v, std::move(x));
    },
    [=](list_atom, settlements_of& x) -> caf::result<id_list> {
      auto group = x.order_id;
      return serve_group<id_list>(self, group, settlements_prefix(group),
                                  list_atom_v, std::move(x));
    },
    [=](put_atom, component_state& x) -> caf::result<version_t> {
      auto key = state_key(x.component, x.key);
      return serve_key<version_t>(self, key, put_atom_v, std::move(x));
    },
    [=](get_atom, component_key& x) -> caf::result<component_state> {
      auto key = state_key(x.component, x.key);
      return serve_key<component_state>(self, key, get_atom_v, std::move(x));
    },
    // -- watches and operations ----------------------------------------------
    [=](watch_atom, watch_request& req,
        watcher_actor& watcher) -> caf::result<watch_started> {
      return self->delegate(local(), watch_atom_v, std::move(req),
                            std::move(watcher));
    },
    [=](health_atom) -> caf::result<health_report> {
      return self->delegate(local(), health_atom_v);
    },
    // -- handoff -------------------------------------------------------------
    [=](handoff_scan_atom, handoff_scan_request& req) {
      return answer_scan(self, req);
    },
    [=](handoff_fetch_atom, handoff_keys& req) {
      return answer_fetch(self, req);
    },
    [=](handoff_drop_atom, handoff_keys& req) {
      return answer_drop(self, req);
    },
    [=](handoff_step_atom, uint32_t source) { scan_step(self, source); },
    [=](handoff_stats_atom) { return stats_of(self->state); },
  };
}

} // namespace

member_guard_actor spawn_member_guard(caf::actor_system& sys,
                                      member_guard_settings settings) {
  return sys.spawn(guard, std::move(settings));
}

} // namespace solver_state
