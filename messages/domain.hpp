#pragma once

// Typed domain records for solver components, so that no component builds a
// key by hand. Each maps to one key of the naming convention (see keys.hpp):
//   order:{order_type}:{order_id}   fill:{order_id}:{tx_hash}
//   settlement:{order_id}:{claim_hash}   state:{component}:{key}
// `data` is the opaque encoded record; `version` is filled in on reads.

#include <string>

#include <caf/meta/type_name.hpp>

#include "messages/values.hpp"

namespace solver_state {

struct order {
  std::string order_type;
  std::string order_id;
  std::string data;
  version_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order& x) {
  return f(caf::meta::type_name("solver_state::order"), x.order_type,
           x.order_id, x.data, x.version);
}

struct order_ref {
  std::string order_type;
  std::string order_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, order_ref& x) {
  return f(caf::meta::type_name("solver_state::order_ref"), x.order_type,
           x.order_id);
}

/// "The orders of this type" (list query), one page at a time: ids after
/// `after` (empty: from the first), at most `limit` of them (0 or more than
/// max_list_page: max_list_page). id_list.more says whether to ask again.
struct orders_of {
  std::string order_type;
  std::string after;
  uint32_t limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, orders_of& x) {
  return f(caf::meta::type_name("solver_state::orders_of"), x.order_type,
           x.after, x.limit);
}

struct fill {
  std::string order_id;
  std::string tx_hash;
  std::string data;
  version_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fill& x) {
  return f(caf::meta::type_name("solver_state::fill"), x.order_id, x.tx_hash,
           x.data, x.version);
}

struct fill_ref {
  std::string order_id;
  std::string tx_hash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fill_ref& x) {
  return f(caf::meta::type_name("solver_state::fill_ref"), x.order_id,
           x.tx_hash);
}

/// "All fills of this order" (list query).
/// The fills of one order, paged like orders_of.
struct fills_of {
  std::string order_id;
  std::string after;
  uint32_t limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fills_of& x) {
  return f(caf::meta::type_name("solver_state::fills_of"), x.order_id,
           x.after, x.limit);
}

struct settlement {
  std::string order_id;
  std::string claim_hash;
  std::string data;
  version_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, settlement& x) {
  return f(caf::meta::type_name("solver_state::settlement"), x.order_id,
           x.claim_hash, x.data, x.version);
}

struct settlement_ref {
  std::string order_id;
  std::string claim_hash;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, settlement_ref& x) {
  return f(caf::meta::type_name("solver_state::settlement_ref"), x.order_id,
           x.claim_hash);
}

/// "All settlements of this order" (list query).
/// The settlements of one order, paged like orders_of.
struct settlements_of {
  std::string order_id;
  std::string after;
  uint32_t limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, settlements_of& x) {
  return f(caf::meta::type_name("solver_state::settlements_of"),
           x.order_id, x.after, x.limit);
}

/// A component's own state value, key state:{component}:{key}.
struct component_state {
  std::string component;
  std::string key;
  std::string data;
  version_t version = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, component_state& x) {
  return f(caf::meta::type_name("solver_state::component_state"), x.component,
           x.key, x.data, x.version);
}

struct component_key {
  std::string component;
  std::string key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, component_key& x) {
  return f(caf::meta::type_name("solver_state::component_key"), x.component,
           x.key);
}

/// One page of ids (order ids, tx hashes, claim hashes), sorted. `more`:
/// ids after ids.back() exist; ask again with after = ids.back().
struct id_list {
  std::vector<std::string> ids;
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, id_list& x) {
  return f(caf::meta::type_name("solver_state::id_list"), x.ids, x.more);
}

} // namespace solver_state
