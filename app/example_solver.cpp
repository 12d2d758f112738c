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

/// The solver's view of one order's life. Each step sends one typed message
/// and, on success, starts the next; any failure ends the walk with a report.
struct order_walk {
  caf::event_based_actor* self;
  state_actor store;
  caf::actor report;
  std::string id = "0xorder1";

  void finish(std::string outcome) const {
    self->send(report, std::move(outcome));
    self->quit();
  }

  auto fail(const char* step) const {
    auto walk = *this;
    return [walk, step](caf::error& err) {
      walk.finish(std::string{step} + ": " + message_of(err));
    };
  }

  void store_order() const {
    auto walk = *this;
    self->request(store, timeout, put_atom_v,
                  order{"eip7683", id, "order-bytes", 0})
      .then([walk](version_t) { walk.record_fill("0xtx1", "fill-1", 1); },
            fail("store order"));
  }

  void record_fill(const char* tx, const char* data, int nth) const {
    auto walk = *this;
    self->request(store, timeout, put_atom_v, fill{id, tx, data, 0})
      .then(
        [walk, nth](version_t) {
          if (nth == 1)
            walk.record_fill("0xtx2", "fill-2", 2);
          else
            walk.record_settlement();
        },
        fail("record fill"));
  }

  void record_settlement() const {
    auto walk = *this;
    self->request(store, timeout, put_atom_v,
                  settlement{id, "0xclaim", "settled", 0})
      .then([walk](version_t) { walk.list_fills(); },
            fail("record settlement"));
  }

  void list_fills() const {
    auto walk = *this;
    self->request(store, timeout, list_atom_v, fills_of{id, {}})
      .then(
        [walk](id_list& fills) {
          if (fills.ids != std::vector<std::string>{"0xtx1", "0xtx2"})
            return walk.finish("fills listed wrong");
          walk.list_settlements();
        },
        fail("list fills"));
  }

  void list_settlements() const {
    auto walk = *this;
    self->request(store, timeout, list_atom_v, settlements_of{id, {}})
      .then(
        [walk](id_list& claims) {
          if (claims.ids != std::vector<std::string>{"0xclaim"})
            return walk.finish("settlements listed wrong");
          walk.read_order_back();
        },
        fail("list settlements"));
  }

  void read_order_back() const {
    auto walk = *this;
    self->request(store, timeout, get_atom_v, order_ref{"eip7683", id})
      .then(
        [walk](order& o) {
          walk.finish(o.data == "order-bytes" ? "ok" : "order data differs");
        },
        fail("get order"));
  }
};

void walk_order(caf::event_based_actor* self, state_actor store,
                caf::actor report) {
  order_walk{self, std::move(store), std::move(report)}.store_order();
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
