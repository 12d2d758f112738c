#pragma once

// The key a typed record (order, fill, ...) lives under, or for a typed list
// the prefix whose placement group picks the owner: routers send each typed
// message to the owner of its routing key.

#include <string>

#include "messages/domain.hpp"

namespace solver_state {

/// The key a typed record lives under, or for a list query the prefix whose
/// placement group picks the owner. Routers send each typed message to the owner
/// of its routing key.
std::string routing_key(const order& x);
std::string routing_key(const order_ref& x);
std::string routing_key(const fill& x);
std::string routing_key(const fill_ref& x);
std::string routing_key(const fills_of& x);
std::string routing_key(const settlement& x);
std::string routing_key(const settlement_ref& x);
std::string routing_key(const settlements_of& x);
std::string routing_key(const component_state& x);
std::string routing_key(const component_key& x);

} // namespace solver_state
