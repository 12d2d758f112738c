#pragma once

// How asio threads enter CAF without blocking: a request becomes a job posted
// (fire-and-forget) to one of a few long-lived "lane" actors, which asks the
// store with request().then() and hands the answer to a callback. The
// callback runs on a CAF thread and posts the response back to the
// connection's strand.
//
// Bounded everywhere: at most max_in_flight calls exist at once (beyond that
// try_acquire fails and the gateway answers 503), and they are spread over
// lanes so no actor has more than about 64 pending requests (CAF 0.17 scans
// all pending requests on every reply; see CAF-0.17-NOTES.md).

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace solver_state::gateway {

class store_bridge {
public:
  using job = std::function<void(caf::event_based_actor*)>;

  store_bridge(caf::actor_system& sys, size_t max_in_flight);
  ~store_bridge();

  store_bridge(const store_bridge&) = delete;
  store_bridge& operator=(const store_bridge&) = delete;

  /// Sends `msg...` to `dest` from a lane actor and calls
  /// `on_result(caf::expected<Result>)` on a CAF thread with the answer.
  /// There is no CAF timeout: the connection bounds the wait with its own
  /// timer (504), while the call keeps its slot until the store answers, so
  /// a stuck backend fills max_in_flight and the gateway answers 503 instead
  /// of piling up work. False, and nothing happens, when max_in_flight calls
  /// are already running. Defined in store_call.hpp.
  template <class Result, class Dest, class OnResult, class... Ts>
  bool ask(Dest dest, OnResult on_result, Ts... msg);

  size_t in_flight() const {
    return slots_->in_flight.load(std::memory_order_relaxed);
  }

  size_t max_in_flight() const { return slots_->max; }

  /// Waits up to `limit` for in-flight calls to finish, then stops the
  /// lanes. True when every call had finished. Idempotent.
  bool stop(std::chrono::milliseconds limit);

private:
  /// Shared with the callbacks, which may outlive the bridge at shutdown.
  struct slots {
    std::atomic<size_t> in_flight{0};
    size_t max = 1;
  };

  bool try_acquire();
  void post(job j);

  std::vector<caf::actor> lanes_;
  std::atomic<size_t> next_lane_{0};
  std::shared_ptr<slots> slots_;
};

} // namespace solver_state::gateway
