// Test helper, not a test: a node that publishes an actor answering every
// message with the message itself, so node_wire_test can send every type of
// the protocol through a real remote connection. Usage: node_echo PORT.
// Runs until SIGTERM/SIGKILL.

#include <csignal>
#include <cstdlib>
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/message_view.hpp>

#include "actors/cluster/settings.hpp"
#include "messages/errors.hpp"
#include "messages/protocol.hpp"

namespace {

caf::behavior echo(caf::event_based_actor* self) {
  self->set_default_handler(
    [](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
      return x.move_content_to_message();
    });
  // A behaviour needs one handler or the actor quits at once.
  return {[](caf::unit_t) {}};
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: node_echo PORT\n";
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  caf::actor_system_config cfg;
  solver_state::register_message_types(cfg);
  solver_state::node_config node;
  node.listen = "127.0.0.1:" + std::to_string(port);
  if (auto err = solver_state::configure_node(cfg, node)) {
    std::cerr << solver_state::message_of(err) << "\n";
    return 1;
  }
  caf::actor_system sys{cfg};
  auto handle = sys.spawn(echo);
  auto bound = sys.middleman().publish(handle, port, "127.0.0.1", true);
  if (!bound) {
    std::cerr << sys.render(bound.error()) << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  return 0;
}
