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
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace solver_state::gateway {

class store_bridge {
public:
  using job = std::function<void(caf::event_based_actor*)>;

  store_bridge(caf::actor_system& sys, size_t max_in_flight,
               std::chrono::milliseconds request_timeout);
  ~store_bridge();

  store_bridge(const store_bridge&) = delete;
  store_bridge& operator=(const store_bridge&) = delete;

  /// Sends `msg...` to `dest` from a lane actor and calls
  /// `on_result(caf::expected<Result>)` on a CAF thread with the answer (or
  /// request_timeout after request_timeout). False, and nothing happens, when
  /// max_in_flight calls are already running. Defined in store_call.hpp.
  template <class Result, class Dest, class OnResult, class... Ts>
  bool ask(Dest dest, OnResult on_result, Ts... msg);

  size_t in_flight() const {
    return in_flight_.load(std::memory_order_relaxed);
  }

  size_t max_in_flight() const { return max_in_flight_; }

  /// Waits up to `limit` for in-flight calls to finish, then stops the
  /// lanes. Idempotent.
  void stop(std::chrono::milliseconds limit);

private:
  bool try_acquire();
  void release();
  void post(job j);

  std::vector<caf::actor> lanes_;
  std::atomic<size_t> next_lane_{0};
  std::atomic<size_t> in_flight_{0};
  size_t max_in_flight_;
  std::chrono::milliseconds timeout_;
};

} // namespace solver_state::gateway
