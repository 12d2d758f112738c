#pragma once

// Multi-key transactions: a list of writes applied all or nothing. Every
// operation names a distinct key and may carry a precondition; the store
// checks every precondition first and applies nothing when one fails.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/values.hpp"

namespace solver_state {

/// One write of a transaction: a set (value, TTL) or a delete of `key`,
/// applied only if `cond` holds when the transaction runs.
struct txn_op {
  enum kind_t : uint8_t { set = 0, erase = 1 };

  uint8_t kind = set;
  std::string key;
  std::string value;            // set
  int64_t ttl_ms = default_ttl; // set, as in set_request
  condition cond;

  static txn_op put(std::string key, std::string value,
                    condition cond = condition::always(),
                    int64_t ttl_ms = default_ttl) {
    return {set, std::move(key), std::move(value), ttl_ms, cond};
  }

  static txn_op remove(std::string key, condition cond = condition::always()) {
    return {erase, std::move(key), {}, default_ttl, cond};
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, txn_op& x) {
  return f(caf::meta::type_name("solver_state::txn_op"), x.kind, x.key,
           x.value, x.ttl_ms, x.cond);
}

/// The operations of one transaction, at most the store's max_batch_keys
/// (http.max_batch_keys), each key once, values of at most max_value_bytes
/// in total. Applied on one node: in a cluster every key must have the same
/// owner node (one placement group), else cross_node_transaction.
struct transaction_request {
  std::vector<txn_op> ops;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transaction_request& x) {
  return f(caf::meta::type_name("solver_state::transaction_request"), x.ops);
}

/// A committed transaction: for each operation, in request order, the key's
/// new version (a set) or 0 (a delete).
struct transaction_reply {
  std::vector<version_t> versions;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transaction_reply& x) {
  return f(caf::meta::type_name("solver_state::transaction_reply"),
           x.versions);
}

} // namespace solver_state
