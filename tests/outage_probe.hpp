#pragma once

// Drives a running store through its router the way a client would, for the
// outage tests of network backends: every request has a generous deadline,
// so a hang shows up as `timeout` rather than as a hung test.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/errors.hpp"
#include "messages/interfaces.hpp"

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
      .receive([](version_t) {}, [&](caf::error& err) { out = code_of(err); });
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
      .receive([](std::string&) {},
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

} // namespace solver_state::testing
