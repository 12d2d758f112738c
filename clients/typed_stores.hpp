#pragma once

// The seed's OrderStore and FillStore for code that is not an actor: thin
// blocking wrappers over a state actor handle. Each call is one round trip
// (~10k/s on 2 cores: a blocking scoped_actor round trip); actors should send the typed messages of
// messages/interfaces.hpp instead and never call these from a handler.

#include <chrono>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

class order_store {
public:
  order_store(caf::actor_system& sys, state_actor store,
              std::string order_type,
              std::chrono::milliseconds timeout = std::chrono::seconds{5});

  caf::expected<version_t> store_order(const std::string& id,
                                       std::string data);
  caf::expected<order> get_order(const std::string& id);
  caf::expected<bool> delete_order(const std::string& id);
  caf::expected<std::vector<std::string>> list_orders();

private:
  caf::actor_system& sys_;
  state_actor store_;
  std::string order_type_;
  std::chrono::milliseconds timeout_;
};

class fill_store {
public:
  fill_store(caf::actor_system& sys, state_actor store,
             std::chrono::milliseconds timeout = std::chrono::seconds{5});

  caf::expected<version_t> record_fill(const std::string& order_id,
                                       const std::string& tx_hash,
                                       std::string data);
  caf::expected<fill> get_fill(const std::string& order_id,
                               const std::string& tx_hash);
  caf::expected<std::vector<std::string>>
  list_fills(const std::string& order_id);

private:
  caf::actor_system& sys_;
  state_actor store_;
  std::chrono::milliseconds timeout_;
};

} // namespace solver_state
