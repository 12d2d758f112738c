// Stores and reads back one order through an installed solver-state.
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "clients/typed_stores.hpp"
#include "actors/store.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"

int main() {
  using namespace solver_state;
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config state;
  state.type = "memory";
  auto store = start_store(sys, state, plugin_registry::builtin());
  if (!store)
    return 1;
  order_store orders{sys, store->router, "eip7683"};
  auto stored = orders.store_order("0x1", "bytes");
  auto back = orders.get_order("0x1");
  auto ids = orders.list_orders();
  stop_store(*store);
  bool ok = stored && back && back->data == "bytes" && ids
            && *ids == std::vector<std::string>{"0x1"};
  std::cout << (ok ? "consumer ok" : "consumer failed") << "\n";
  return ok ? 0 : 1;
}
