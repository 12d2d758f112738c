// The bridge from asio threads into CAF: a fixed table of in-flight calls,
// requests enqueued at the store, replies dispatched by request id.

#include "http/store_bridge.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_companion.hpp>
#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>
#include <spdlog/spdlog.h>

namespace solver_state::gateway {

/// The calls in flight: one slot per call, found by the request id. An id is
/// (generation << 32) | (slot + 1): never 0, within CAF's 60 request-id
/// bits, and a reply for a slot that has since been reused is recognised by
/// its generation and dropped (unless it comes 2^28 reuses of its slot
/// late).
///
/// Who may touch a slot's handler: `owner` holds the id of the call that
/// occupies the slot, 0 when none. reserve() fills the handler, then
/// publishes the id; complete() (a CAF thread) and cancel() (an io thread,
/// or stop()) each try to swap that exact id for 0, and only the one that
/// succeeds touches the handler and frees the slot. A late or duplicate
/// reply, or a cancel after the reply, finds another value and does nothing.
struct store_bridge::call_table {
  struct slot {
    reply_handler handler;
    /// Written only by the slot's owner of the moment; the free list's mutex
    /// orders it between owners.
    uint32_t generation = 0;
    std::atomic<uint64_t> owner{0};
  };

  static constexpr uint64_t generation_mask = (uint64_t{1} << 28) - 1;

  explicit call_table(size_t n) : slots(n) {
    free.reserve(n);
    for (size_t i = n; i > 0; --i)
      free.push_back(static_cast<uint32_t>(i - 1));
  }

  uint64_t reserve(reply_handler handler) {
    uint32_t index;
    {
      std::lock_guard<std::mutex> guard{free_mutex};
      if (free.empty())
        return 0;
      index = free.back();
      free.pop_back();
    }
    in_flight.fetch_add(1, std::memory_order_acq_rel);
    auto& s = slots[index];
    s.handler = std::move(handler);
    auto id = (uint64_t{s.generation} << 32) | (uint64_t{index} + 1);
    s.owner.store(id, std::memory_order_release);
    return id;
  }

  /// The slot of call `id` if this caller won it (it alone may now touch
  /// the handler), else nullptr.
  slot* claim(uint64_t id) {
    auto index = (id & 0xFFFFFFFFu) - 1;
    if (id == 0 || index >= slots.size())
      return nullptr;
    auto& s = slots[index];
    auto expected = id;
    if (!s.owner.compare_exchange_strong(expected, 0,
                                         std::memory_order_acq_rel,
                                         std::memory_order_relaxed))
      return nullptr;
    return &s;
  }

  /// Takes the handler out of a claimed slot and puts the slot back on the
  /// free list; the call still counts in `in_flight` until its handler is
  /// gone (finish()).
  reply_handler take_and_free(slot& s) {
    auto handler = std::move(s.handler);
    s.handler = nullptr;
    s.generation = static_cast<uint32_t>((s.generation + 1) & generation_mask);
    auto index = static_cast<uint32_t>(&s - slots.data());
    std::lock_guard<std::mutex> guard{free_mutex};
    free.push_back(index);
    return handler;
  }

  /// Counts a call out once its handler is destroyed: when in_flight drops
  /// to zero no thread holds a connection any more, which is what stop()
  /// waits for before the io_context goes away.
  void finish() {
    in_flight.fetch_sub(1, std::memory_order_acq_rel);
  }

  /// Runs the handler of call `id` with `reply`; drops the reply when the
  /// call was cancelled or is unknown. The slot is free before the handler
  /// runs: the handler sends the answer, and a client that sends its next
  /// request the moment that answer arrives must find the slot free (with
  /// max_in_flight 1 it got 503 when this thread was preempted between the
  /// two).
  void complete(uint64_t id, caf::type_erased_tuple& reply) {
    auto* s = claim(id);
    if (!s) {
      // Expected after a 504: the store answered after the deadline.
      spdlog::debug("http: dropped a store reply for a call no longer "
                    "waiting: {}",
                    id);
      return;
    }
    {
      auto handler = take_and_free(*s);
      handler(reply);
    }
    finish();
  }

  /// Ends call `id` unanswered: destroys its handler and frees its slot.
  bool cancel(uint64_t id) {
    auto* s = claim(id);
    if (!s)
      return false;
    take_and_free(*s); // the handler is destroyed here
    finish();
    return true;
  }

  /// Cancels every running call; how many there were.
  size_t cancel_all() {
    size_t n = 0;
    for (auto& s : slots)
      if (auto id = s.owner.load(std::memory_order_acquire); id != 0)
        n += cancel(id) ? 1 : 0;
    return n;
  }

  std::vector<slot> slots;
  std::mutex free_mutex;
  std::vector<uint32_t> free;
  std::atomic<size_t> in_flight{0};
};

namespace {

caf::actor_companion* companion_of(const caf::strong_actor_ptr& ptr) {
  return static_cast<caf::actor_companion*>(
    caf::actor_cast<caf::abstract_actor*>(ptr));
}

/// The innermost call_scope open on this thread.
thread_local store_bridge::call_scope* current_scope = nullptr;

} // namespace

store_bridge::call_scope::call_scope(const store_bridge& bridge,
                                     std::vector<uint64_t>& ids)
  : bridge_(&bridge), ids_(&ids), outer_(current_scope) {
  current_scope = this;
}

store_bridge::call_scope::~call_scope() {
  current_scope = outer_;
}

store_bridge::store_bridge(caf::actor_system& sys, size_t max_in_flight)
  : calls_(std::make_shared<call_table>(std::max<size_t>(1, max_in_flight))) {
  sender_ = caf::actor_cast<caf::strong_actor_ptr>(
    sys.spawn<caf::actor_companion>());
  // Runs on the thread of whoever replies. Only responses carry a call id;
  // anything else sent to this actor is dropped.
  companion_of(sender_)->on_enqueue(
    [calls = calls_](caf::mailbox_element_ptr element) {
      if (element && element->mid.is_response())
        calls->complete(element->mid.request_id().integer_value(),
                        element->content());
    });
}

store_bridge::~store_bridge() {
  stop(std::chrono::milliseconds{0});
}

size_t store_bridge::in_flight() const {
  return calls_->in_flight.load(std::memory_order_relaxed);
}

size_t store_bridge::max_in_flight() const {
  return calls_->slots.size();
}

uint64_t store_bridge::reserve(reply_handler handler) {
  if (!sender_)
    return 0;
  auto id = calls_->reserve(std::move(handler));
  for (auto* scope = current_scope; id != 0 && scope; scope = scope->outer_)
    if (scope->bridge_ == this) {
      scope->ids_->push_back(id);
      break;
    }
  return id;
}

bool store_bridge::cancel(uint64_t id) {
  return calls_->cancel(id);
}

bool store_bridge::pending(uint64_t id) const {
  auto index = (id & 0xFFFFFFFFu) - 1;
  if (id == 0 || index >= calls_->slots.size())
    return false;
  return calls_->slots[index].owner.load(std::memory_order_acquire) == id;
}

void store_bridge::send(const caf::strong_actor_ptr& dest, uint64_t id,
                        caf::mailbox_element_ptr request) {
  if (!dest) {
    auto answer = caf::make_message(caf::make_error(caf::sec::invalid_argument,
                                                    "no store to ask"));
    calls_->complete(id, answer.content());
    return;
  }
  dest->enqueue(std::move(request), nullptr);
}

bool store_bridge::stop(std::chrono::milliseconds limit) {
  if (!sender_)
    return in_flight() == 0;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  bool finished = in_flight() == 0;
  // What actor_companion::disconnect() does (Debian's libcaf_core does not
  // export it): drop the hook, then terminate the actor so the actor system
  // does not wait for it at shutdown. The companion runs the hook under its
  // lock and on_enqueue() takes that lock, so once the hook is gone no
  // complete() is running and none will: cancelling what is left then
  // leaves no callback (and no connection) held anywhere.
  auto companion = companion_of(sender_);
  companion->on_enqueue(caf::actor_companion::enqueue_handler{});
  if (auto pending = calls_->cancel_all(); pending > 0)
    spdlog::warn("http: {} store calls still pending at shutdown: cancelled",
                 pending);
  companion->cleanup(caf::make_error(caf::exit_reason::user_shutdown),
                     nullptr);
  sender_.reset();
  return finished;
}

} // namespace solver_state::gateway
