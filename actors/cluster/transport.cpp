// Publishing the local state actor and connecting to a peer's, over TCP or
// TLS as node.tls says.

#include "actors/cluster/transport.hpp"

#include <set>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/cluster/port_probe.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// The actor that publishes and dials: CAF's middleman, or the openssl
/// module's own with TLS. Both take the same messages.
caf::io::middleman_actor dialler(caf::actor_system& sys, bool tls) {
  return tls ? sys.openssl_manager().actor_handle()
             : sys.middleman().actor_handle();
}

} // namespace

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
                     uint16_t port, bool tls,
                     std::chrono::milliseconds timeout) {
  // Not middleman::unpublish, which waits without a bound for the
  // middleman actor (a dial stuck in its connect() once held a SIGTERM for
  // two minutes); and caf::openssl::unpublish does not compile in 0.17.6
  // (it calls the middleman actor without the actor address). Ask the
  // actor directly, waiting a bounded time: a slow answer only means the
  // port closes a little after the store, whose requests then fail.
  caf::scoped_actor self{sys};
  self->request(dialler(sys, tls), timeout, caf::unpublish_atom_v,
                store.address(), port)
    .receive([] {}, [](caf::error&) {});
}

caf::expected<state_actor> connect_state(caf::actor_system& sys,
                                         const std::string& host,
                                         uint16_t port, bool tls,
                                         std::chrono::milliseconds timeout) {
  if (auto err = probe_port(host, port, timeout))
    return err;
  // What caf::io::remote_actor and caf::openssl::remote_actor do, but
  // awaited within `timeout` instead of forever: a peer that accepts and
  // never completes the handshake (a frozen process) must not hold this
  // caller, and through it the shutdown of the actor system, without end.
  // A plain send, its answer awaited with a wall-clock `after`: a request's
  // timeout would run on the actor clock, which stands still under the
  // deterministic test scheduler. An answer after the timeout goes to the
  // scoped actor gone by then.
  caf::expected<state_actor> out{caf::error{}};
  caf::scoped_actor self{sys};
  self->send(dialler(sys, tls), caf::connect_atom_v, host, port);
  self->receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& interface) {
        if (!ptr)
          out = caf::make_error(caf::sec::no_actor_published_at_port, port);
        else if (!sys.assignable(interface, sys.message_types<state_actor>()))
          out = caf::make_error(caf::sec::unexpected_actor_messaging_interface,
                                sys.message_types<state_actor>(),
                                std::move(interface));
        else
          out = caf::actor_cast<state_actor>(std::move(ptr));
      },
      [&](caf::error& err) { out = std::move(err); },
      caf::after(timeout) >> [&] {
        out = make_state_error(state_errc::backend_unavailable,
                               "no handshake from " + host + ":"
                                 + std::to_string(port) + " within "
                                 + std::to_string(timeout.count()) + "ms");
      });
  return out;
}

} // namespace solver_state
