#pragma once

// How asio threads enter CAF without blocking and without extra hops. A
// request is enqueued straight into the store's mailbox from the asio thread,
// with this bridge's reply actor (a caf::actor_companion, never scheduled) as
// the sender and a request id that names a slot of a fixed call table. The
// store's reply is handed to the companion's enqueue hook on the CAF thread
// that answered; the hook finds the slot by id (O(1), no scan of pending
// requests as request().then() would do in CAF 0.17) and runs the callback,
// which posts the response to the connection's strand.
//
// Bounded everywhere: the table has max_in_flight slots; when they are all
// taken ask() fails and the gateway answers 503.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace solver_state::gateway {

class store_bridge {
public:
  /// Runs on the CAF thread that answered, with the reply's content.
  using reply_handler = std::function<void(caf::type_erased_tuple&)>;

  store_bridge(caf::actor_system& sys, size_t max_in_flight);
  ~store_bridge();

  store_bridge(const store_bridge&) = delete;
  store_bridge& operator=(const store_bridge&) = delete;

  /// Sends `msg...` to `dest` as a request and calls
  /// `on_result(caf::expected<Result>)` on a CAF thread with the answer.
  /// There is no CAF timeout: the connection bounds the wait with its own
  /// timer (504), while the call keeps its slot until the store answers, so
  /// a stuck backend fills max_in_flight and the gateway answers 503 instead
  /// of piling up work. False, and nothing happens, when max_in_flight calls
  /// are already running. Defined in store_call.hpp.
  template <class Result, class Dest, class OnResult, class... Ts>
  bool ask(const Dest& dest, OnResult on_result, Ts... msg);

  size_t in_flight() const;

  size_t max_in_flight() const;

  /// Waits up to `limit` for in-flight calls to finish, then stops the
  /// reply actor (later replies are dropped). True when every call had
  /// finished. Idempotent.
  bool stop(std::chrono::milliseconds limit);

  struct call_table; // store_bridge.cpp

private:
  /// A request id for `handler`, or 0 when every slot is taken.
  uint64_t reserve(reply_handler handler);

  /// Enqueues `request` (built by ask() with sender_ and request id `id`)
  /// at `dest`. A missing destination answers the call at once with an
  /// error.
  void send(const caf::strong_actor_ptr& dest, uint64_t id,
            caf::mailbox_element_ptr request);

  std::shared_ptr<call_table> calls_;
  /// The reply actor, the sender of every request.
  caf::strong_actor_ptr sender_;
};

} // namespace solver_state::gateway
