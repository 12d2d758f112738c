// The WATCH RELAY (actors/cluster/watch_relay.hpp): one store's changes into
// another hub, as a cluster front relays each store node's. Both stores run
// in one actor system; a logging watcher subscribes to the target hub, as a
// front's watcher would.

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include "actors/cluster/watch_relay.hpp"
#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "messages/protocol.hpp"
#include "tests/support/watch_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

struct two_stores {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  store_handles source;
  store_handles target;

  two_stores() {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    state_config sc;
    sc.type = "memory";
    sc.shards = 1;
    auto s = start_store(*sys, sc, compiled_plugins());
    auto t = start_store(*sys, sc, compiled_plugins());
    REQUIRE(s);
    REQUIRE(t);
    source = std::move(*s);
    target = std::move(*t);
  }

  ~two_stores() {
    stop_store(source);
    stop_store(target);
  }

  caf::actor relay() {
    watch_relay_settings rs;
    rs.name = "node-s:7000";
    rs.source = source.router;
    rs.target = target.hub;
    rs.check_interval = 100ms;
    return spawn_watch_relay(*sys, std::move(rs));
  }

  bool put(const std::string& key) {
    caf::scoped_actor self{*sys};
    bool ok = false;
    self->request(source.router, 10s, put_atom_v, set_request{key, "v", 0, {}})
      .receive([&](write_result&) { ok = true; }, [](caf::error&) {});
    return ok;
  }
};

} // namespace

TEST_CASE("a watcher of the front that came before the relay subscribed is "
          "told to resync once it has, then gets the changes") {
  // Changes a store node committed before its relay subscribed reached no
  // watcher of the front, and nothing told them.
  two_stores s;
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*s.sys, s.target.hub, log,
                            watch_request{"", false, 0, 0});
  REQUIRE(started);
  // A watcher of the source, to know when its hub has numbered "early":
  // a put's answer can come before its change reaches the hub, and a relay
  // subscribed in between would relay it (seen once under load).
  auto source_log = std::make_shared<watch_log>();
  auto source_watch = watch(*s.sys, s.source.hub, source_log,
                            watch_request{"", false, 0, 0});
  REQUIRE(source_watch.second);
  REQUIRE(s.put("early")); // before the relay: not relayed
  REQUIRE(source_log->wait_events(1));
  auto relay = s.relay();
  REQUIRE(log->wait_for([&] { return !log->resyncs.empty(); }));
  CHECK_THAT(log->resyncs.front(),
             Catch::Contains("node-s:7000")
               && Catch::Contains("before the front subscribed"));
  REQUIRE(s.put("late"));
  REQUIRE(log->wait_events(1));
  CHECK(log->snapshot().front().key == "late");
  CHECK(log->resyncs.size() == 1);
  // A lost subscription: one resync more, once the relay subscribed
  // again, and the changes go on.
  caf::anon_send(caf::actor_cast<watcher_actor>(relay), resync_atom_v,
                 std::string{"fell behind"}, true);
  REQUIRE(log->wait_for([&] { return log->resyncs.size() == 2; }));
  CHECK_THAT(log->resyncs.back(), Catch::Contains("fell behind"));
  REQUIRE(s.put("later"));
  REQUIRE(log->wait_for(
    [&] { return !log->events.empty() && log->events.back().key == "later"; }));
  caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}
