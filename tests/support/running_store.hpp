#pragma once

// A store started as the service starts it (start_store: shards, router,
// ticker, metrics), in an actor system of its own; stopped when destroyed,
// also when a REQUIRE fails.

#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
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
                         size_t max_items = 0) {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    state_config sc;
    sc.type = type;
    sc.shards = shards;
    sc.max_items = max_items;
    auto started = start_store(*sys, sc, compiled_plugins());
    INFO((started ? std::string{} : message_of(started.error())));
    REQUIRE(started);
    handles = std::move(*started);
  }

  ~running_store() { stop_store(handles); }
};

} // namespace solver_state::testing
