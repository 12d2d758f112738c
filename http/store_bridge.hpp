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
// taken ask() fails and the gateway answers 503. A call the store does not
// answer in time is cancelled by the connection (504): its callback is gone
// at once, while its slot stays taken until the store's late reply comes
// (and is dropped), so that max_in_flight also bounds what waits in the
// store's mailboxes: a slow store meets 503s, not a growing backlog.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace solver_state::gateway {

class store_bridge {
public:
  /// Runs on the CAF thread that answered, with the reply's content.
  using reply_handler = std::function<void(caf::type_erased_tuple&)>;

  /// `lost_after`: how long a cancelled call keeps its slot waiting for the
  /// store's reply before it is taken back (a reply that never comes).
  store_bridge(caf::actor_system& sys, size_t max_in_flight,
               std::chrono::milliseconds lost_after = default_lost_after);

  static constexpr std::chrono::milliseconds default_lost_after{60'000};
  ~store_bridge();

  store_bridge(const store_bridge&) = delete;
  store_bridge& operator=(const store_bridge&) = delete;

  /// Sends `msg...` to `dest` as a request and calls
  /// `on_result(caf::expected<Result>)` on a CAF thread with the answer,
  /// unless the call is cancelled first. There is no CAF timeout: the
  /// connection bounds the wait with its own timer (504) and then cancels
  /// the call (see call_scope). False, and nothing happens, when
  /// max_in_flight calls are already running. Defined in store_call.hpp.
  template <class Result, class Dest, class OnResult, class... Ts>
  bool ask(const Dest& dest, OnResult on_result, Ts... msg);

  /// Who a call is for: each class has its own slots, so that one cannot
  /// starve another.
  enum class call_class : uint8_t {
    /// A client's store operation: max_in_flight slots.
    store,
    /// /readyz: a few slots of its own, so that a probe flood against a
    /// stuck store cannot take /metrics's.
    readiness,
    /// /metrics: a few slots of its own.
    metrics,
  };

  /// ask() for an operator's request (`which` is readiness or metrics): it
  /// takes one of a few slots of that class kept beyond max_in_flight, so
  /// that it is answered while store calls take every other slot (a store
  /// that stopped answering).
  template <class Result, class Dest, class OnResult, class... Ts>
  bool ask_ops(call_class which, const Dest& dest, OnResult on_result,
               Ts... msg);

  /// Ends call `id` without an answer: its callback is destroyed unrun, and
  /// the store's reply, if it ever comes, is dropped; the slot is free once
  /// that reply comes, or lost_after has passed. Thread-safe and races
  /// safely with that reply: exactly one of them wins. False when the reply
  /// won (its callback ran or is running) or `id` names no running call.
  bool cancel(uint64_t id);

  /// True while call `id` waits: neither answered nor cancelled. For a
  /// request that makes many calls, to forget the ones that are over.
  bool pending(uint64_t id) const;

  /// Records the ids of the calls ask() starts on this thread while the
  /// scope lives. Handlers ask synchronously inside api::serve(), so the
  /// connection opens one around it and knows which calls to cancel at its
  /// deadline without the handlers passing ids around. Scopes nest; only
  /// calls through `bridge` are recorded.
  class call_scope {
  public:
    call_scope(const store_bridge& bridge, std::vector<uint64_t>& ids);
    ~call_scope();
    call_scope(const call_scope&) = delete;
    call_scope& operator=(const call_scope&) = delete;

  private:
    friend class store_bridge;
    const store_bridge* bridge_;
    std::vector<uint64_t>* ids_;
    call_scope* outer_;
  };

  /// Calls with a callback waiting (cancelled ones are not counted).
  size_t in_flight() const;

  size_t max_in_flight() const;

  /// The slots of class `which`: max_in_flight for store, a few for an
  /// operator's class.
  size_t slots_of(call_class which) const;

  /// Cancelled calls whose slot still waits for the store's reply.
  size_t abandoned() const;

  /// Waits up to `limit` for in-flight calls to finish, then stops the
  /// reply actor (later replies are dropped) and ends the calls still
  /// running, so that on return no callback runs or will run and none is
  /// held: in_flight() is 0. True when every call had finished by itself.
  /// Idempotent; not concurrently with ask().
  bool stop(std::chrono::milliseconds limit);

  struct call_table; // store_bridge.cpp

private:
  /// A request id for `handler`, or 0 when every slot of class `which` is
  /// taken.
  uint64_t reserve(reply_handler handler, call_class which);

  template <class Result, class Dest, class OnResult, class... Ts>
  bool start(call_class which, const Dest& dest, OnResult on_result,
             Ts... msg);

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
