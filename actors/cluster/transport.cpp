// Publishing the local state actor and connecting to a peer's, over TCP or
// TLS as node.tls says.

#include "actors/cluster/transport.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/send.hpp>

namespace solver_state {

caf::expected<uint16_t> publish_state(caf::actor_system& sys,
                                      const state_actor& store,
                                      const std::string& host, uint16_t port,
                                      bool tls) {
  // SO_REUSEADDR: a node restarted right after a crash must get its port back
  // while old connections linger in TIME_WAIT.
  constexpr bool reuse_addr = true;
  if (tls)
    return caf::openssl::publish(store, port, host.c_str(), reuse_addr);
  return sys.middleman().publish(store, port, host.c_str(), reuse_addr);
}

void unpublish_state(caf::actor_system& sys, const state_actor& store,
                     uint16_t port, bool tls) {
  // caf::openssl::unpublish does not compile in 0.17.6 (it calls the
  // middleman actor without the actor address); ask the actor directly.
  if (tls)
    caf::anon_send(sys.openssl_manager().actor_handle(), caf::unpublish_atom_v,
                   store.address(), port);
  else
    sys.middleman().unpublish(store, port);
}

caf::expected<state_actor> connect_state(caf::actor_system& sys,
                                         const std::string& host,
                                         uint16_t port, bool tls) {
  if (tls)
    return caf::openssl::remote_actor<state_actor>(sys, host, port);
  return sys.middleman().remote_actor<state_actor>(host, port);
}

} // namespace solver_state
