#pragma once

// A store started as the service starts it (start_store: shards, router,
// ticker, metrics), in an actor system of its own; stopped when destroyed,
// also when a REQUIRE fails. ask() is a blocking request to its router.

#include <chrono>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"

namespace solver_state::testing {

struct running_store {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  store_handles handles;

  explicit running_store(const std::string& type, size_t shards = 4,
                         size_t max_items = 0)
    : running_store(config_of(type, shards, max_items)) {
  }

  explicit running_store(const state_config& sc) {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    auto started = start_store(*sys, sc, compiled_plugins());
    INFO((started ? std::string{} : message_of(started.error())));
    REQUIRE(started);
    handles = std::move(*started);
  }

  ~running_store() { stop_store(handles); }

  /// Asks the router, waiting at most 10 s.
  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<Reply> result{caf::error{}};
    self->request(handles.router, std::chrono::seconds{10}, std::move(xs)...)
      .receive([&](Reply& r) { result = std::move(r); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

private:
  static state_config config_of(const std::string& type, size_t shards,
                                size_t max_items) {
    state_config sc;
    sc.type = type;
    sc.shards = shards;
    sc.max_items = max_items;
    return sc;
  }
};

} // namespace solver_state::testing
