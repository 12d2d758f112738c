// The blocking order_store and fill_store wrappers for non-actor code: each
// call is one scoped_actor request to the state actor with a timeout.

#include "clients/typed_stores.hpp"

#include <iterator>

#include <caf/scoped_actor.hpp>
#include <caf/typed_actor.hpp>

namespace solver_state {

namespace {

/// One blocking round trip with a timeout; errors come back as values.
template <class Reply, class... Ts>
caf::expected<Reply> ask(caf::actor_system& sys, const state_actor& store,
                         std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<Reply> out{caf::error{}};
  self->request(store, timeout, std::forward<Ts>(xs)...)
    .receive([&](Reply& r) { out = std::move(r); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

/// Every id of a paged id list: one request per page of max_list_page.
template <class Query>
caf::expected<std::vector<std::string>>
all_ids(caf::actor_system& sys, const state_actor& store,
        std::chrono::milliseconds timeout, Query query) {
  std::vector<std::string> out;
  for (;;) {
    auto page = ask<id_list>(sys, store, timeout, list_atom_v, query);
    if (!page)
      return std::move(page.error());
    std::move(page->ids.begin(), page->ids.end(), std::back_inserter(out));
    if (!page->more || out.empty())
      return out;
    query.after = out.back();
  }
}

} // namespace

order_store::order_store(caf::actor_system& sys, state_actor store,
                         std::string order_type,
                         std::chrono::milliseconds timeout)
  : sys_(sys),
    store_(std::move(store)),
    order_type_(std::move(order_type)),
    timeout_(timeout) {
}

caf::expected<version_t> order_store::store_order(const std::string& id,
                                                  std::string data) {
  return ask<version_t>(sys_, store_, timeout_, put_atom_v,
                        order{order_type_, id, std::move(data), 0});
}

caf::expected<order> order_store::get_order(const std::string& id) {
  return ask<order>(sys_, store_, timeout_, get_atom_v,
                    order_ref{order_type_, id});
}

caf::expected<bool> order_store::delete_order(const std::string& id) {
  return ask<bool>(sys_, store_, timeout_, delete_atom_v,
                   order_ref{order_type_, id});
}

caf::expected<std::vector<std::string>> order_store::list_orders() {
  return all_ids(sys_, store_, timeout_, orders_of{order_type_, {}, 0});
}

fill_store::fill_store(caf::actor_system& sys, state_actor store,
                       std::chrono::milliseconds timeout)
  : sys_(sys), store_(std::move(store)), timeout_(timeout) {
}

caf::expected<version_t> fill_store::record_fill(const std::string& order_id,
                                                 const std::string& tx_hash,
                                                 std::string data) {
  return ask<version_t>(sys_, store_, timeout_, put_atom_v,
                        fill{order_id, tx_hash, std::move(data), 0});
}

caf::expected<fill> fill_store::get_fill(const std::string& order_id,
                                         const std::string& tx_hash) {
  return ask<fill>(sys_, store_, timeout_, get_atom_v,
                   fill_ref{order_id, tx_hash});
}

caf::expected<std::vector<std::string>>
fill_store::list_fills(const std::string& order_id) {
  return all_ids(sys_, store_, timeout_, fills_of{order_id, {}, 0});
}

} // namespace solver_state
