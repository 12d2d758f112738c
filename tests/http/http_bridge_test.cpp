// The gateway's way into CAF (http/store_bridge): requests enqueued straight
// from a non-actor thread, answers decoded by call id, the in-flight bound,
// cancelled calls and their late replies.

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "http/handlers.hpp"
#include "http/message.hpp"
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
  // Up to 5 s: under ASan on a loaded machine one second was once too few.
  for (int i = 0; i < 2500 && bridge.in_flight() > 0; ++i)
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
    [](report_atom, const watch_report&) {},
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

  auto v = ask_and_wait<write_result>(
    bridge, store->router, put_atom_v,
    set_request{"order:x:1", std::string("a\0b", 3), 0, condition::always()});
  REQUIRE(v);
  auto e = ask_and_wait<entry>(bridge, store->router, get_atom_v,
                               std::string{"order:x:1"});
  REQUIRE(e);
  CHECK(e->value == std::string("a\0b", 3));
  CHECK(e->version == v->version);

  auto missing = ask_and_wait<entry>(bridge, store->router, get_atom_v,
                                     std::string{"order:x:2"});
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing.error()) == state_errc::not_found);

  auto stale = ask_and_wait<write_result>(
    bridge, store->router, put_atom_v,
    set_request{"order:x:1", "c", 0, condition::matches(v->version + 12345)});
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

TEST_CASE("a call's slot is free by the time its answer is handed on") {
  // The handler sends the HTTP answer; a client may send its next request
  // the moment that answer arrives. With max_in_flight 1 that request found
  // the slot still taken, and got 503, when the answering thread was
  // preempted between running the handler and freeing the slot.
  system_fixture f;
  state_config cfg;
  cfg.type = "memory";
  cfg.shards = 1;
  auto store = start_store(f.sys, cfg, compiled_plugins());
  REQUIRE(store);
  at_scope_end stop_at_end{[&] { stop_store(*store); }};
  store_bridge bridge{f.sys, 1};
  auto next_call_started = std::make_shared<std::promise<bool>>();
  auto started = next_call_started->get_future();
  auto second_answer = std::make_shared<std::promise<bool>>();
  auto second = second_answer->get_future();
  REQUIRE(bridge.ask<entry>(
    store->router,
    [&bridge, &store, next_call_started,
     second_answer](caf::expected<entry>) {
      // Stands for the client's next request, asked before this returns.
      next_call_started->set_value(bridge.ask<entry>(
        store->router,
        [second_answer](caf::expected<entry>) {
          second_answer->set_value(true);
        },
        get_atom_v, std::string{"order:x:2"}));
    },
    get_atom_v, std::string{"order:x:1"}));
  REQUIRE(started.wait_for(10s) == std::future_status::ready);
  CHECK(started.get());
  REQUIRE(second.wait_for(10s) == std::future_status::ready);
  CHECK(settled_in_flight(bridge) == 0);
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

namespace {

/// What the callback of one call saw.
struct outcome {
  std::string value; // written before hits is incremented
  std::atomic<int> hits{0};
};

/// Asks `dest` to render through the bridge inside a call_scope; the call's
/// id, or 0 when the bridge refused. `alive` lives exactly as long as the
/// callback does (the way a connection lives as long as a callback holds
/// it).
uint64_t ask_render(store_bridge& bridge, const metrics_actor& dest,
                    std::shared_ptr<outcome> out,
                    std::shared_ptr<int> alive = nullptr) {
  std::vector<uint64_t> ids;
  store_bridge::call_scope scope{bridge, ids};
  bool started = bridge.ask<std::string>(
    dest,
    [out, alive](caf::expected<std::string> r) {
      out->value = r ? *r : "error";
      out->hits.fetch_add(1);
    },
    render_atom_v);
  if (!started)
    return 0;
  REQUIRE(ids.size() == 1);
  return ids.front();
}

bool wait_for_hits(const outcome& out, int n) {
  for (int i = 0; i < 2500 && out.hits.load() < n; ++i)
    std::this_thread::sleep_for(2ms);
  return out.hits.load() >= n;
}

/// Like stalling_metrics, but a report releases the held renders with
/// "answer 0", "answer 1", ... in the order they came: each caller can tell
/// whose answer it got.
metrics_actor::behavior_type
numbered_stalling_metrics(metrics_actor::stateful_pointer<held_promises> self) {
  return {
    [](report_atom, const shard_report&) {},
    [](report_atom, const watch_report&) {},
    [self](report_atom, const http_report&) {
      for (size_t i = 0; i < self->state.size(); ++i)
        self->state[i].deliver("answer " + std::to_string(i));
      self->state.clear();
    },
    [self](render_atom) -> caf::result<std::string> {
      self->state.push_back(self->make_response_promise<std::string>());
      return self->state.back();
    },
  };
}

/// A metrics actor that answers every render at once.
metrics_actor::behavior_type prompt_metrics() {
  return {
    [](report_atom, const shard_report&) {},
    [](report_atom, const watch_report&) {},
    [](report_atom, const http_report&) {},
    [](render_atom) { return std::string{"now"}; },
  };
}

} // namespace

TEST_CASE("a call_scope records the calls started through its bridge only") {
  system_fixture f;
  auto prompt = f.sys.spawn(prompt_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(prompt, caf::exit_reason::user_shutdown); }};
  store_bridge a{f.sys, 4};
  store_bridge b{f.sys, 4};
  auto noop = [](caf::expected<std::string>) {};
  std::vector<uint64_t> outer_ids, inner_ids;
  {
    store_bridge::call_scope outer{a, outer_ids};
    REQUIRE(a.ask<std::string>(prompt, noop, render_atom_v));
    {
      store_bridge::call_scope inner{b, inner_ids};
      REQUIRE(b.ask<std::string>(prompt, noop, render_atom_v));
      REQUIRE(a.ask<std::string>(prompt, noop, render_atom_v)); // outer's
    }
  }
  REQUIRE(a.ask<std::string>(prompt, noop, render_atom_v)); // no scope
  CHECK(outer_ids.size() == 2);
  CHECK(inner_ids.size() == 1);
  CHECK(settled_in_flight(a) == 0);
  CHECK(settled_in_flight(b) == 0);
  CHECK(a.stop(1s));
  CHECK(b.stop(1s));
}

namespace {

/// Waits (up to 5 s) until no cancelled call waits for its reply.
size_t settled_abandoned(const store_bridge& bridge) {
  for (int i = 0; i < 2500 && bridge.abandoned() > 0; ++i)
    std::this_thread::sleep_for(2ms);
  return bridge.abandoned();
}

} // namespace

// A cancelled call's slot was free at once while its request still waited
// in the store's mailbox: each request_timeout let max_in_flight more
// requests pile up there behind a slow store (a 20 s flood of 504s left
// every request failing for 55 s after it ended).
TEST_CASE("a cancelled call lets its callback go at once and keeps its slot "
          "until the store's late reply, which is dropped") {
  system_fixture f;
  auto stalled = f.sys.spawn(numbered_stalling_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown); }};
  store_bridge bridge{f.sys, 2};
  auto late_out = std::make_shared<outcome>();
  auto connection = std::make_shared<int>(0);
  std::weak_ptr<int> held = connection;
  auto late = ask_render(bridge, stalled, late_out, std::move(connection));
  REQUIRE(late != 0);
  CHECK(bridge.in_flight() == 1);

  CHECK(bridge.cancel(late));
  CHECK(bridge.in_flight() == 0);
  CHECK(bridge.abandoned() == 1);
  CHECK(held.expired()); // the callback, and what it held, is gone
  CHECK_FALSE(bridge.cancel(late)); // once only
  CHECK_FALSE(bridge.pending(late));

  // One slot is free; the cancelled call's waits for the store.
  auto first = std::make_shared<outcome>();
  auto first_id = ask_render(bridge, stalled, first);
  CHECK(first_id != 0);
  CHECK((first_id & 0xFFFFFFFFu) != (late & 0xFFFFFFFFu));
  CHECK(ask_render(bridge, stalled, std::make_shared<outcome>()) == 0); // full

  // The store answers both requests, the cancelled one first ("answer
  // 0"): dropped, and its slot is free again.
  caf::anon_send(stalled, report_atom_v, http_report{});
  REQUIRE(wait_for_hits(*first, 1));
  CHECK(first->value == "answer 1");
  CHECK(settled_abandoned(bridge) == 0);
  CHECK(settled_in_flight(bridge) == 0);
  auto second = std::make_shared<outcome>();
  auto second_id = ask_render(bridge, stalled, second);
  CHECK(second_id != 0);
  CHECK(second_id != late); // a slot's next call has a new generation
  CHECK(ask_render(bridge, stalled, std::make_shared<outcome>()) != 0);
  caf::anon_send(stalled, report_atom_v, http_report{});
  REQUIRE(wait_for_hits(*second, 1));
  CHECK(second->value == "answer 0");
  CHECK(first->hits.load() == 1);
  CHECK(late_out->hits.load() == 0);
  CHECK(settled_in_flight(bridge) == 0);
  CHECK(bridge.stop(1s));
}

TEST_CASE("operators' calls have slots of their own, and only those") {
  system_fixture f;
  auto stalled = f.sys.spawn(stalling_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown); }};
  store_bridge bridge{f.sys, 2};
  using call_class = store_bridge::call_class;
  auto ask = [&](call_class which) {
    auto ignore = [](caf::expected<std::string>) {};
    return which == call_class::store
             ? bridge.ask<std::string>(stalled, ignore, render_atom_v)
             : bridge.ask_ops<std::string>(which, stalled, ignore,
                                           render_atom_v);
  };
  auto fill = [&](call_class which) {
    size_t n = 0;
    while (n < 100 && ask(which))
      ++n;
    return n;
  };
  // A probe flood takes the readiness slots and no others: /metrics and
  // the store calls still get theirs.
  CHECK(fill(call_class::readiness) == 4);
  CHECK(fill(call_class::metrics) == 4);
  CHECK(ask(call_class::store));
  CHECK(ask(call_class::store));
  CHECK_FALSE(ask(call_class::store)); // max_in_flight 2
  CHECK_FALSE(ask(call_class::readiness));
  CHECK(bridge.in_flight() == 10);
  caf::anon_send(stalled, report_atom_v, http_report{});
  CHECK(settled_in_flight(bridge) == 0);
  CHECK(bridge.stop(1s));
}

namespace {

/// Keeps the one answer a handler gives at once.
class recording_sink : public gateway::reply_sink {
public:
  void reply(gateway::response_t res) override { answer = std::move(res); }
  void resume(std::function<void()>) override {}
  void next_step(std::function<void()>) override {}
  void open_stream(gateway::response_t) override {}
  void reserve_chunk(size_t, std::function<void()>) override {}
  void stream_chunk(std::string, std::function<void()>) override {}
  void stream_pieces(std::vector<std::shared_ptr<const std::string>>,
                     std::function<void()>) override {}
  void end_stream(std::string) override {}
  void idle_stream() override {}
  std::string request_id() const override { return "test"; }
  bool connection_open() const override { return true; }
  void abort_stream(std::string) override {}

  std::optional<gateway::response_t> answer;
};

} // namespace

TEST_CASE("/readyz and /metrics past their own slots say so, not "
          "http.max_in_flight") {
  // A front whose peer was stopped answered four /readyz with 504 and then
  // "too many requests in flight (http.max_in_flight=4096)" while no store
  // call was in flight. Found by review.
  system_fixture f;
  auto stalled = f.sys.spawn(stalling_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown); }};
  store_bridge bridge{f.sys, 4096};
  using call_class = store_bridge::call_class;
  for (auto which : {call_class::readiness, call_class::metrics})
    while (bridge.ask_ops<std::string>(
      which, stalled, [](caf::expected<std::string>) {}, render_atom_v)) {
    }
  CHECK(bridge.slots_of(call_class::readiness) == 4);
  // With every slot taken nothing is sent: no store, no metrics actor.
  gateway::handler_env env{bridge, {}, {}, {}, {}, {}, {}};
  auto ready = std::make_shared<recording_sink>();
  gateway::readyz(env, gateway::route_match{}, ready);
  REQUIRE(ready->answer);
  CHECK(ready->answer->result_int() == 503);
  CHECK(ready->answer->at(boost::beast::http::field::retry_after) == "1");
  CHECK_THAT(ready->answer->body(),
             Catch::Contains("4 /readyz checks already wait for the store")
               && Catch::Contains("apart from http.max_in_flight")
               && !Catch::Contains("too many requests in flight"));
  auto metrics = std::make_shared<recording_sink>();
  gateway::metrics(env, metrics);
  REQUIRE(metrics->answer);
  CHECK(metrics->answer->result_int() == 503);
  CHECK_THAT(metrics->answer->body(),
             Catch::Contains("4 /metrics requests already wait for the "
                             "metrics actor")
               && !Catch::Contains("too many requests in flight"));
  caf::anon_send(stalled, report_atom_v, http_report{});
  CHECK(settled_in_flight(bridge) == 0);
  CHECK(bridge.stop(1s));
}

TEST_CASE("a cancelled call whose reply never comes gives its slot back "
          "after lost_after") {
  system_fixture f;
  auto stalled = f.sys.spawn(numbered_stalling_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown); }};
  store_bridge bridge{f.sys, 1, 300ms};
  auto lost_out = std::make_shared<outcome>();
  auto lost = ask_render(bridge, stalled, lost_out);
  REQUIRE(lost != 0);
  REQUIRE(bridge.cancel(lost));
  CHECK(ask_render(bridge, stalled, std::make_shared<outcome>()) == 0);
  std::this_thread::sleep_for(400ms);
  auto next = std::make_shared<outcome>();
  auto next_id = ask_render(bridge, stalled, next);
  CHECK(next_id != 0); // taken back
  CHECK(bridge.abandoned() == 0);
  // The lost call's reply comes after all ("answer 0"): dropped; the call
  // in its slot now gets its own.
  caf::anon_send(stalled, report_atom_v, http_report{});
  REQUIRE(wait_for_hits(*next, 1));
  CHECK(next->value == "answer 1");
  CHECK(lost_out->hits.load() == 0);
  CHECK(bridge.stop(1s));
}

TEST_CASE("cancel after the reply won is a no-op") {
  system_fixture f;
  auto prompt = f.sys.spawn(prompt_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(prompt, caf::exit_reason::user_shutdown); }};
  store_bridge bridge{f.sys, 1};
  auto out = std::make_shared<outcome>();
  auto id = ask_render(bridge, prompt, out);
  REQUIRE(id != 0);
  REQUIRE(wait_for_hits(*out, 1));
  CHECK(settled_in_flight(bridge) == 0);
  CHECK_FALSE(bridge.cancel(id));
  // The slot is taken by the next call; the old id must not cancel it.
  auto stalled = f.sys.spawn(stalling_metrics);
  at_scope_end stop_stalled{
    [&] { caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown); }};
  auto next = ask_render(bridge, stalled, out);
  REQUIRE(next != 0);
  CHECK(next != id);
  CHECK_FALSE(bridge.cancel(id));
  CHECK(bridge.in_flight() == 1);
  CHECK(bridge.cancel(next));
  CHECK(bridge.stop(1s));
}

TEST_CASE("stop() cancels calls the store never answers and holds none") {
  system_fixture f;
  auto stalled = f.sys.spawn(stalling_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown); }};
  auto hits = std::make_shared<std::atomic<int>>(0);
  auto connection = std::make_shared<int>(0);
  std::weak_ptr<int> held = connection;
  {
    store_bridge bridge{f.sys, 4};
    REQUIRE(bridge.ask<std::string>(
      stalled,
      [hits, connection = std::move(connection)](caf::expected<std::string>) {
        hits->fetch_add(1);
      },
      render_atom_v));
    CHECK(bridge.in_flight() == 1);
    CHECK_FALSE(bridge.stop(50ms)); // the store did not answer in time
    CHECK(bridge.in_flight() == 0);
    CHECK(held.expired());
  }
  // The store answers after the bridge is gone: dropped, no crash.
  caf::anon_send(stalled, report_atom_v, http_report{});
  std::this_thread::sleep_for(50ms);
  CHECK(hits->load() == 0);
}

TEST_CASE("replies and cancels race: each call ends exactly once") {
  system_fixture f;
  auto prompt = f.sys.spawn(prompt_metrics);
  at_scope_end stop_at_end{
    [&] { caf::anon_send_exit(prompt, caf::exit_reason::user_shutdown); }};
  store_bridge bridge{f.sys, 16};

  struct call {
    std::atomic<int> hits{0};
    std::atomic<int> cancels{0};
  };
  std::mutex calls_mutex;
  std::unordered_map<uint64_t, std::shared_ptr<call>> calls;
  // Recent ids for the snipers: some still running, some answered, some
  // naming a slot that a later call holds now.
  constexpr size_t ring_size = 64;
  std::array<std::atomic<uint64_t>, ring_size> ring{};
  std::atomic<size_t> ring_next{0};
  std::atomic<bool> done{false};

  auto cancel_and_count = [&](uint64_t id) {
    if (!bridge.cancel(id))
      return;
    std::lock_guard<std::mutex> guard{calls_mutex};
    calls.at(id)->cancels.fetch_add(1);
  };

  constexpr int askers = 4;
  constexpr int asks_each = 3000;
  std::vector<std::thread> threads;
  for (int t = 0; t < askers; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < asks_each; ++i) {
        auto c = std::make_shared<call>();
        std::vector<uint64_t> ids;
        bool started = false;
        {
          // Registered before the reply can come: the lock is held across
          // the ask.
          std::lock_guard<std::mutex> guard{calls_mutex};
          store_bridge::call_scope scope{bridge, ids};
          started = bridge.ask<std::string>(
            prompt, [c](caf::expected<std::string>) { c->hits.fetch_add(1); },
            render_atom_v);
          if (started)
            calls.emplace(ids.front(), c);
        }
        if (!started) {
          std::this_thread::yield();
          continue;
        }
        ring[ring_next.fetch_add(1) % ring_size].store(ids.front());
        if ((i + t) % 2 == 0)
          cancel_and_count(ids.front()); // races with the reply
      }
    });
  for (int s = 0; s < 2; ++s)
    threads.emplace_back([&, s] {
      size_t k = static_cast<size_t>(s);
      while (!done.load()) {
        if (auto id = ring[k++ % ring_size].load(); id != 0)
          cancel_and_count(id);
      }
    });
  for (int t = 0; t < askers; ++t)
    threads[static_cast<size_t>(t)].join();
  done = true;
  for (size_t t = askers; t < threads.size(); ++t)
    threads[t].join();

  CHECK(settled_in_flight(bridge) == 0);
  // Cancelled calls keep their slots until their replies come: every slot
  // may still wait for one.
  CHECK(settled_abandoned(bridge) == 0);
  // The actor answers in order and each reply is dispatched on its thread
  // before it takes the next message: once this answer is in, every reply
  // to the calls above has been delivered (or dropped).
  auto last = ask_and_wait<std::string>(bridge, prompt, render_atom_v);
  CHECK(last);
  size_t answered = 0, cancelled = 0, wrong = 0;
  {
    std::lock_guard<std::mutex> guard{calls_mutex};
    for (auto& [id, c] : calls) {
      auto h = c->hits.load(), k = c->cancels.load();
      answered += static_cast<size_t>(h);
      cancelled += static_cast<size_t>(k);
      if (h + k != 1)
        ++wrong;
    }
  }
  CHECK(wrong == 0);
  CHECK(answered + cancelled == calls.size());
  CHECK(cancelled > 0);
  // How many replies won the race depends on the machine (none, under a
  // sanitizer on a busy one): that the reply path works after it is checked
  // without a race below.
  INFO(answered << " answered, " << cancelled << " cancelled");
  CHECK(settled_in_flight(bridge) == 0);
  for (int i = 0; i < 10; ++i)
    CHECK(ask_and_wait<std::string>(bridge, prompt, render_atom_v));
  CHECK(settled_in_flight(bridge) == 0);
  CHECK(bridge.stop(1s));
}
