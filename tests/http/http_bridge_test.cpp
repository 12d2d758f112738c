// The gateway's way into CAF (http/store_bridge): requests enqueued straight
// from a non-actor thread, answers decoded by call id, the in-flight bound.

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "http/store_call.hpp"
#include "messages/errors.hpp"
#include "messages/protocol.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using gateway::store_bridge;

namespace {

struct system_fixture {
  system_fixture() : sys{(register_message_types(cfg), cfg)} {}
  caf::actor_system_config cfg;
  caf::actor_system sys;
};

/// Stops actors when a test ends, also by a failed REQUIRE: an actor left
/// running makes ~actor_system wait forever.
struct at_scope_end {
  std::function<void()> run;
  ~at_scope_end() { run(); }
};

/// Asks through the bridge and waits (on this test thread) for the answer.
template <class Result, class Dest, class... Ts>
caf::expected<Result> ask_and_wait(store_bridge& bridge, const Dest& dest,
                                   Ts... msg) {
  auto answer = std::make_shared<std::promise<caf::expected<Result>>>();
  auto future = answer->get_future();
  REQUIRE(bridge.ask<Result>(
    dest, [answer](caf::expected<Result> r) { answer->set_value(std::move(r)); },
    std::move(msg)...));
  REQUIRE(future.wait_for(10s) == std::future_status::ready);
  return future.get();
}

/// The slot of a call is freed just after its callback ran (on a CAF
/// thread), so the test thread may see the count drop a moment later.
size_t settled_in_flight(const store_bridge& bridge) {
  for (int i = 0; i < 500 && bridge.in_flight() > 0; ++i)
    std::this_thread::sleep_for(2ms);
  return bridge.in_flight();
}

/// A metrics actor that holds every render request until a report arrives:
/// a store that does not answer yet.
using held_promises = std::vector<caf::typed_response_promise<std::string>>;

metrics_actor::behavior_type
stalling_metrics(metrics_actor::stateful_pointer<held_promises> self) {
  return {
    [](report_atom, const shard_report&) {},
    [self](report_atom, const http_report&) {
      for (auto& rp : self->state)
        rp.deliver(std::string{"released"});
      self->state.clear();
    },
    [self](render_atom) -> caf::result<std::string> {
      self->state.push_back(self->make_response_promise<std::string>());
      return self->state.back();
    },
  };
}

} // namespace

TEST_CASE("the bridge carries values and errors both ways") {
  system_fixture f;
  state_config cfg;
  cfg.type = "memory";
  cfg.shards = 4;
  auto store = start_store(f.sys, cfg, compiled_plugins());
  REQUIRE(store);
  at_scope_end stop_at_end{[&] { stop_store(*store); }};
  store_bridge bridge{f.sys, 8};

  auto v = ask_and_wait<version_t>(bridge, store->router, put_atom_v,
                                   set_request{"order:x:1", std::string("a\0b", 3),
                                               0, condition::always()});
  REQUIRE(v);
  auto e = ask_and_wait<entry>(bridge, store->router, get_atom_v,
                               std::string{"order:x:1"});
  REQUIRE(e);
  CHECK(e->value == std::string("a\0b", 3));
  CHECK(e->version == *v);

  auto missing = ask_and_wait<entry>(bridge, store->router, get_atom_v,
                                     std::string{"order:x:2"});
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing.error()) == state_errc::not_found);

  auto stale = ask_and_wait<version_t>(
    bridge, store->router, put_atom_v,
    set_request{"order:x:1", "c", 0, condition::matches(*v + 12345)});
  REQUIRE_FALSE(stale);
  CHECK(code_of(stale.error()) == state_errc::version_mismatch);

  // Many calls through the same slots: every slot is reused many times.
  for (int i = 0; i < 200; ++i)
    REQUIRE(ask_and_wait<entry>(bridge, store->router, get_atom_v,
                                std::string{"order:x:1"}));
  CHECK(settled_in_flight(bridge) == 0);
  CHECK(bridge.stop(1s));
}

TEST_CASE("the bridge refuses calls beyond max_in_flight and frees slots") {
  system_fixture f;
  auto stalled = f.sys.spawn(stalling_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown); }};
  store_bridge bridge{f.sys, 2};
  std::vector<std::future<caf::expected<std::string>>> answers;
  auto ask = [&] {
    auto answer = std::make_shared<std::promise<caf::expected<std::string>>>();
    answers.push_back(answer->get_future());
    return bridge.ask<std::string>(
      stalled,
      [answer](caf::expected<std::string> r) { answer->set_value(std::move(r)); },
      render_atom_v);
  };
  REQUIRE(ask());
  REQUIRE(ask());
  CHECK_FALSE(ask()); // both slots taken: refused, nothing sent
  answers.pop_back();
  CHECK(bridge.in_flight() == 2);

  caf::anon_send(stalled, report_atom_v, http_report{});
  for (auto& a : answers) {
    REQUIRE(a.wait_for(10s) == std::future_status::ready);
    auto r = a.get();
    REQUIRE(r);
    CHECK(*r == "released");
  }
  answers.clear();
  CHECK(settled_in_flight(bridge) == 0);
  CHECK(ask()); // the slots are free again
  caf::anon_send(stalled, report_atom_v, http_report{});
  REQUIRE(answers.back().wait_for(10s) == std::future_status::ready);
  CHECK(bridge.stop(1s));
}

TEST_CASE("a store that is gone answers the call with an error") {
  system_fixture f;
  auto gone = f.sys.spawn(stalling_metrics);
  caf::anon_send_exit(gone, caf::exit_reason::user_shutdown);
  std::this_thread::sleep_for(50ms);
  store_bridge bridge{f.sys, 2};
  auto r = ask_and_wait<std::string>(bridge, gone, render_atom_v);
  CHECK_FALSE(r);
  CHECK(settled_in_flight(bridge) == 0);
  metrics_actor none;
  auto r2 = ask_and_wait<std::string>(bridge, none, render_atom_v);
  CHECK_FALSE(r2);
  CHECK(bridge.stop(1s));
}
