// The connector: a detached actor that dials one peer (a blocking call,
// bounded by node.request_timeout: transport.hpp) and reports the proxy or
// the failure to the peer actor.

#include "actors/cluster/connector.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/cluster/transport.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

connector_actor::behavior_type connector(connector_actor::pointer self,
                                         peer_actor peer,
                                         peer_settings settings) {
  return {
    [=](peer_dial_atom) {
      // Bounded: a peer that drops packets must not hold this thread (and
      // with it the actor system's shutdown) for the kernel's SYN retries.
      auto handle = connect_state(self->system(), settings.host, settings.port,
                                  settings.tls, settings.request_timeout);
      if (handle) {
        self->send(peer, peer_up_atom_v, std::move(*handle));
        return;
      }
      auto& err = handle.error();
      self->send(peer, peer_failed_atom_v,
                 err.category() == state_error_category()
                   ? message_of(err)
                   : self->system().render(err));
    },
  };
}

} // namespace

connector_actor spawn_connector(caf::actor_system& sys, peer_actor peer,
                                const peer_settings& settings) {
  return sys.spawn<caf::detached>(connector, std::move(peer), settings);
}

} // namespace solver_state
