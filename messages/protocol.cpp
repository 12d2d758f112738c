// register_message_types: the type-ID block, the actor handles and the error
// renderer, for every actor system that speaks the protocol.

#include "messages/protocol.hpp"

#include <caf/actor_system_config.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::solver_state>();
  cfg.add_message_type<state_actor>("solver_state::state_actor");
  cfg.add_message_type<metrics_actor>("solver_state::metrics_actor");
  cfg.add_message_type<watcher_actor>("solver_state::watcher_actor");
  cfg.add_message_type<watch_hub_actor>("solver_state::watch_hub_actor");
  cfg.add_message_type<transaction_coordinator>(
    "solver_state::transaction_coordinator");
  cfg.add_error_category(
    state_error_category(),
    [](uint8_t code, caf::atom_value, const caf::message& ctx) -> std::string {
      auto result = std::string{"state_error("}
                    + to_string(static_cast<state_errc>(code));
      if (ctx.size() == 1 && ctx.match_element<std::string>(0))
        result += ", " + ctx.get_as<std::string>(0);
      return result + ")";
    });
}

} // namespace solver_state
