// Routing keys of the typed records, built from messages/keys.hpp's names.

#include "actors/routing_key.hpp"

#include "messages/keys.hpp"

namespace solver_state {

std::string routing_key(const order& x) {
  return order_key(x.order_type, x.order_id);
}

std::string routing_key(const order_ref& x) {
  return order_key(x.order_type, x.order_id);
}

std::string routing_key(const fill& x) {
  return fill_key(x.order_id, x.tx_hash);
}

std::string routing_key(const fill_ref& x) {
  return fill_key(x.order_id, x.tx_hash);
}

std::string routing_key(const fills_of& x) {
  return fills_prefix(x.order_id);
}

std::string routing_key(const settlement& x) {
  return settlement_key(x.order_id, x.claim_hash);
}

std::string routing_key(const settlement_ref& x) {
  return settlement_key(x.order_id, x.claim_hash);
}

std::string routing_key(const settlements_of& x) {
  return settlements_prefix(x.order_id);
}

std::string routing_key(const component_state& x) {
  return state_key(x.component, x.key);
}

std::string routing_key(const component_key& x) {
  return state_key(x.component, x.key);
}

} // namespace solver_state
