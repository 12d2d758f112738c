#pragma once

// Drives a running store through its router the way a client would, for the
// outage tests of network backends: every request has a generous deadline,
// so a hang shows up as `timeout` rather than as a hung test.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "messages/errors.hpp"
#include "messages/interfaces.hpp"
#include "tests/support/running_store.hpp"
#include "tests/support/server_process.hpp"

namespace solver_state::testing {

class outage_probe {
public:
  outage_probe(caf::actor_system& sys, state_actor router)
    : sys_(sys), router_(std::move(router)) {}

  ~outage_probe() { stop_load(); }

  /// One write; none (success) or the failure's code.
  state_errc put(const std::string& key, const std::string& value = "v") {
    caf::scoped_actor self{sys_};
    state_errc out = state_errc::none;
    self
      ->request(router_, deadline, put_atom_v,
                set_request{key, value, 0, condition::always()})
      .receive([](const write_result&) {},
               [&](caf::error& err) { out = code_of(err); });
    return out;
  }

  /// One read; none (found), not_found, or the failure's code.
  state_errc get(const std::string& key) {
    caf::scoped_actor self{sys_};
    state_errc out = state_errc::none;
    self->request(router_, deadline, get_atom_v, key)
      .receive([](entry&) {}, [&](caf::error& err) { out = code_of(err); });
    return out;
  }

  /// The health check through the router; none when healthy.
  state_errc health() {
    caf::scoped_actor self{sys_};
    state_errc out = state_errc::none;
    self->request(router_, deadline, health_atom_v)
      .receive([](health_report&) {},
               [&](caf::error& err) { out = code_of(err); });
    return out;
  }

  /// Starts `clients` threads writing in a loop; outcomes are counted.
  void start_load(int clients) {
    for (int c = 0; c < clients; ++c)
      load_.emplace_back([this, c] {
        for (int i = 0; !stop_; ++i) {
          auto code = put("state:load:" + std::to_string(c) + ":"
                          + std::to_string(i % 50));
          std::lock_guard<std::mutex> guard{mtx_};
          ++outcomes_[code];
        }
      });
  }

  void stop_load() {
    stop_ = true;
    for (auto& t : load_)
      t.join();
    load_.clear();
  }

  size_t count(state_errc code) {
    std::lock_guard<std::mutex> guard{mtx_};
    return outcomes_[code];
  }

  std::map<state_errc, size_t> outcomes() {
    std::lock_guard<std::mutex> guard{mtx_};
    return outcomes_;
  }

  static constexpr std::chrono::seconds deadline{15};

private:
  caf::actor_system& sys_;
  state_actor router_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> load_;
  std::mutex mtx_;
  std::map<state_errc, size_t> outcomes_;
};

/// The outage every network backend must survive, on a store of `type`
/// served by `server` (kill() and restart()): under load, the server dies;
/// operations then fail fast with backend_unavailable and the store reports
/// unhealthy; the server comes back and the same store recovers by itself.
/// Every request gets an answer, success or unavailability, never a hang.
/// With `keeps_data`, a value written before the outage is read after it.
template <class Server>
void check_outage_and_recovery(Server& server, const std::string& type,
                               bool keeps_data,
                               std::chrono::seconds recovery) {
  using namespace std::chrono_literals;
  running_store store{type};
  outage_probe probe{*store.sys, store.handles.router};
  REQUIRE(probe.put("state:o:before") == state_errc::none);
  REQUIRE(probe.health() == state_errc::none);

  probe.start_load(8);
  REQUIRE(wait_until([&] { return probe.count(state_errc::none) > 100; },
                     10s));
  server.kill();
  CHECK(wait_until(
    [&] { return probe.count(state_errc::backend_unavailable) > 20; }, 10s));
  CHECK(probe.put("state:o:during") == state_errc::backend_unavailable);
  CHECK(probe.get("state:o:before") == state_errc::backend_unavailable);
  CHECK(probe.health() == state_errc::backend_unavailable);

  server.restart();
  auto ok_before = probe.count(state_errc::none);
  CHECK(wait_until(
    [&] { return probe.count(state_errc::none) > ok_before + 100; },
    recovery));
  probe.stop_load();
  // Each shard reconnects on its first operation after its backoff pause
  // (at most 2 s), so the last shards may come back a little later.
  CHECK(wait_until([&] { return probe.health() == state_errc::none; }, 10s));
  if (keeps_data)
    CHECK(probe.get("state:o:before") == state_errc::none);
  CHECK(probe.put("state:o:after") == state_errc::none);
  CHECK(probe.get("state:o:after") == state_errc::none);
  for (auto [code, n] : probe.outcomes()) {
    INFO(to_string(code) << " x" << n);
    CHECK((code == state_errc::none
           || code == state_errc::backend_unavailable));
  }
}

} // namespace solver_state::testing
