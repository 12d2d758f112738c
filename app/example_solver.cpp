// An example solver component: walks one order through its life using only
// the typed messages of messages/interfaces.hpp, as an actor would inside a
// solver. It stores an order, records two fills and a settlement, keeps a
// piece of component state, and lists everything back. Exit code 0 means every
// step returned what was written.

#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/store.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"

using namespace solver_state;

namespace {

constexpr auto timeout = std::chrono::seconds{5};

/// The solver: one chain of requests, each step started by the previous
/// reply, reporting the outcome to `report`.
void walk_order(caf::event_based_actor* self, state_actor store,
                caf::actor report) {
  auto fail = [=](const char* step) {
    return [=](caf::error& err) {
      self->send(report, std::string{step} + ": " + message_of(err));
      self->quit();
    };
  };
  auto done = [=](std::string outcome) {
    self->send(report, std::move(outcome));
    self->quit();
  };
  const std::string id = "0xorder1";
  self->request(store, timeout, put_atom_v,
                order{"eip7683", id, "order-bytes", 0})
    .then(
      [=](version_t) {
        self->request(store, timeout, put_atom_v, fill{id, "0xtx1", "fill-1", 0})
          .then(
            [=](version_t) {
              self
                ->request(store, timeout, put_atom_v,
                          fill{id, "0xtx2", "fill-2", 0})
                .then(
                  [=](version_t) {
                    self
                      ->request(store, timeout, put_atom_v,
                                settlement{id, "0xclaim", "settled", 0})
                      .then(
                        [=](version_t) {
                          self
                            ->request(store, timeout, list_atom_v,
                                      fills_of{id})
                            .then(
                              [=](id_list& fills) {
                                if (fills.ids
                                    != std::vector<std::string>{"0xtx1",
                                                                "0xtx2"})
                                  return done("fills listed wrong");
                                self
                                  ->request(store, timeout, list_atom_v,
                                            settlements_of{id})
                                  .then(
                                    [=](id_list& claims) {
                                      if (claims.ids
                                          != std::vector<std::string>{
                                            "0xclaim"})
                                        return done("settlements listed wrong");
                                      self
                                        ->request(store, timeout, get_atom_v,
                                                  order_ref{"eip7683", id})
                                        .then(
                                          [=](order& o) {
                                            done(o.data == "order-bytes"
                                                   ? "ok"
                                                   : "order data differs");
                                          },
                                          fail("get order"));
                                    },
                                    fail("list settlements"));
                              },
                              fail("list fills"));
                        },
                        fail("record settlement"));
                  },
                  fail("record fill 2"));
            },
            fail("record fill 1"));
      },
      fail("store order"));
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config state;
  state.type = "memory";
  auto store = start_store(sys, state, plugin_registry::builtin());
  if (!store) {
    std::cerr << "cannot start store: " << message_of(store.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  sys.spawn(walk_order, store->router, caf::actor{self});
  std::string outcome = "no answer";
  self->receive([&](std::string& s) { outcome = std::move(s); },
                caf::after(std::chrono::seconds{10}) >> [] {});
  std::cout << "example solver: " << outcome << "\n";
  stop_store(*store);
  return outcome == "ok" ? 0 : 1;
}
