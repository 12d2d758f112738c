#pragma once

// A fixture on CAF's test coordinator: no scheduler threads, time advanced by
// hand, so TTL and ticker behaviour is tested without sleeping.

#include <chrono>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"

namespace solver_state::testing {

struct deterministic_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::unique_ptr<caf::scoped_actor> self;
  store_handles store;

  explicit deterministic_fixture(state_config state = default_state()) {
    register_message_types(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    self = std::make_unique<caf::scoped_actor>(*sys);
    auto started = start_store(*sys, state, compiled_plugins());
    REQUIRE(started);
    store = std::move(*started);
    sched->run();
  }

  ~deterministic_fixture() {
    stop_store(store);
    sched->run();
  }

  static state_config default_state() {
    state_config s;
    s.type = "memory";
    s.shards = 4;
    s.max_items = 0;
    return s;
  }

  /// Sends `xs...` to the router, runs every actor to quiescence and returns
  /// the reply (or the error).
  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts&&... xs) {
    caf::expected<Reply> out{caf::error{}};
    bool answered = false;
    auto handle = (*self)->request(store.router, caf::infinite,
                                   std::forward<Ts>(xs)...);
    sched->run();
    std::move(handle).receive(
      [&](Reply& r) {
        out = std::move(r);
        answered = true;
      },
      [&](caf::error& err) {
        out = std::move(err);
        answered = true;
      });
    REQUIRE(answered);
    return out;
  }

  /// Moves the actor clock forward and runs whatever became due.
  void advance(std::chrono::milliseconds d) {
    sched->advance_time(d);
    sched->run();
  }
};

} // namespace solver_state::testing
