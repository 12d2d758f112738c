#pragma once

// Fixtures on CAF's test coordinator: no scheduler threads, time advanced by
// hand, so TTL and ticker behaviour is tested without sleeping.
// deterministic_system is a bare actor system for tests of single actors;
// deterministic_fixture adds a whole store (start_store) and asks its router.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/duration.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"

namespace solver_state::testing {

struct deterministic_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::unique_ptr<caf::scoped_actor> self;

  deterministic_system() {
    register_message_types(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    self = std::make_unique<caf::scoped_actor>(*sys);
  }

  deterministic_system(const deterministic_system&) = delete;
  deterministic_system& operator=(const deterministic_system&) = delete;

  ~deterministic_system() {
    for (auto& a : stop_at_end_)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched->run();
  }

  /// Remembers an actor to stop when the test ends (the actor system waits
  /// for every actor before it shuts down); returns it.
  template <class Handle>
  Handle stop_at_end(Handle handle) {
    stop_at_end_.push_back(caf::actor_cast<caf::actor>(handle));
    return handle;
  }

  /// The answer to a request sent with `request`: empty until it arrives.
  template <class Reply>
  using reply_slot = std::shared_ptr<std::optional<caf::expected<Reply>>>;

  /// Sends `xs...` to `dest` from a client actor of its own, without running
  /// anything yet; the slot fills once the answer (or an error) arrives, so
  /// a test can check that there is none yet and never blocks.
  template <class Reply, class Dest, class... Ts>
  reply_slot<Reply> request(const Dest& dest, caf::duration timeout,
                            Ts... xs) {
    // The slot is a spawn argument, not a capture: CAF 0.17 dereferences a
    // null argument tuple when spawning a function without arguments, which
    // UBSan reports.
    auto client = [=](caf::event_based_actor* c, reply_slot<Reply> slot) {
      c->request(dest, timeout, xs...)
        .then([slot](Reply& r) { slot->emplace(std::move(r)); },
              [slot](caf::error& err) { slot->emplace(std::move(err)); });
    };
    auto slot = std::make_shared<std::optional<caf::expected<Reply>>>();
    stop_at_end(sys->spawn(client, slot));
    return slot;
  }

  /// Sends `xs...` to `dest`, runs every actor to quiescence and returns
  /// the reply (or the error).
  template <class Reply, class Dest, class... Ts>
  caf::expected<Reply> ask_actor(const Dest& dest, Ts&&... xs) {
    auto slot = request<Reply>(dest, caf::infinite, std::forward<Ts>(xs)...);
    sched->run();
    REQUIRE(slot->has_value()); // an actor that never answers is a failure
    return std::move(**slot);
  }

  /// Moves the actor clock forward and runs whatever became due. Timers
  /// armed while running fire on a later advance only: step by the period.
  void advance(std::chrono::milliseconds d) {
    sched->advance_time(d);
    sched->run();
  }

private:
  std::vector<caf::actor> stop_at_end_;
};

struct deterministic_fixture : deterministic_system {
  store_handles store;

  explicit deterministic_fixture(state_config state = default_state(),
                                 store_options options = {}) {
    auto started = start_store(*sys, state, compiled_plugins(),
                               std::move(options));
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
    return ask_actor<Reply>(store.router, std::forward<Ts>(xs)...);
  }
};

} // namespace solver_state::testing
