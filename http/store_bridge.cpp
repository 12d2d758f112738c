// The bridge from asio threads into CAF: a fixed table of in-flight calls,
// requests enqueued at the store, replies dispatched by request id.

#include "http/store_bridge.hpp"

#include <algorithm>
#include <array>
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
/// succeeds touches the handler. A late or duplicate reply, or a cancel
/// after the reply, finds another value and does nothing.
///
/// A cancelled call keeps its slot until the store's reply comes: its
/// request still waits in the store's mailbox, and a slot freed at once
/// would let each request_timeout add max_in_flight more there, a backlog
/// nobody waits for that grows as long as the store stays slow. cancel()
/// swaps the owner for the id with `cancelling` set, takes the handler, sets
/// `abandoned` to the id, then the owner to 0; a reply that meets the
/// cancelling id waits for that to end, then swaps `abandoned` for 0 and
/// frees the slot. A reply that never comes (an actor that died holding the
/// request) leaves the slot to be taken back after lost_after.
struct store_bridge::call_table {
  struct slot {
    reply_handler handler;
    /// Whose call: counted against its class's slots (ask_ops's are
    /// beyond max_in_flight). Written by reserve() before the id is
    /// published.
    call_class which = call_class::store;
    /// Written only by the slot's owner of the moment; the free list's mutex
    /// orders it between owners.
    uint32_t generation = 0;
    std::atomic<uint64_t> owner{0};
    std::atomic<uint64_t> abandoned{0};
    /// When the call was cancelled (steady clock ticks).
    std::atomic<std::chrono::steady_clock::rep> abandoned_at{0};
  };

  static constexpr uint64_t generation_mask = (uint64_t{1} << 28) - 1;
  /// In `owner` while cancel() ends the call (ids use the low 60 bits).
  static constexpr uint64_t cancelling = uint64_t{1} << 62;

  call_table(size_t n, std::chrono::milliseconds lost)
    : slots(n + 2 * ops_slots), lost_after(lost) {
    limit[index_of(call_class::store)] = n;
    limit[index_of(call_class::readiness)] = ops_slots;
    limit[index_of(call_class::metrics)] = ops_slots;
    free.reserve(slots.size());
    for (size_t i = slots.size(); i > 0; --i)
      free.push_back(static_cast<uint32_t>(i - 1));
  }

  static size_t index_of(call_class which) {
    return static_cast<size_t>(which);
  }

  uint64_t reserve(reply_handler handler, call_class which) {
    uint32_t index;
    auto c = index_of(which);
    for (int attempt = 0;; ++attempt) {
      {
        std::lock_guard<std::mutex> guard{free_mutex};
        if (!free.empty() && taken[c] < limit[c]) {
          index = free.back();
          free.pop_back();
          ++taken[c];
          break;
        }
      }
      if (attempt > 0 || abandoned_calls.load(std::memory_order_relaxed) == 0)
        return 0;
      take_back_lost();
    }
    in_flight.fetch_add(1, std::memory_order_acq_rel);
    auto& s = slots[index];
    s.handler = std::move(handler);
    s.which = which;
    auto id = (uint64_t{s.generation} << 32) | (uint64_t{index} + 1);
    s.owner.store(id, std::memory_order_release);
    return id;
  }

  /// The slot `id` names, or nullptr.
  slot* slot_of(uint64_t id) {
    auto index = (id & 0xFFFFFFFFu) - 1;
    if (id == 0 || index >= slots.size())
      return nullptr;
    return &slots[index];
  }

  /// The slot of call `id` if this caller won it (it alone may now touch
  /// the handler), else nullptr.
  slot* claim(uint64_t id) {
    auto* s = slot_of(id);
    auto expected = id;
    if (!s || !s->owner.compare_exchange_strong(expected, 0,
                                                std::memory_order_acq_rel,
                                                std::memory_order_relaxed))
      return nullptr;
    return s;
  }

  /// Takes the handler out of a claimed slot and puts the slot back on the
  /// free list; the call still counts in `in_flight` until its handler is
  /// gone (finish()).
  reply_handler take_and_free(slot& s) {
    auto handler = take(s);
    release(s);
    return handler;
  }

  /// Takes the handler out of a claimed slot; the next call in it gets a
  /// new generation.
  reply_handler take(slot& s) {
    auto handler = std::move(s.handler);
    s.handler = nullptr;
    s.generation = static_cast<uint32_t>((s.generation + 1) & generation_mask);
    return handler;
  }

  /// Puts a slot back on the free list.
  void release(slot& s) {
    auto index = static_cast<uint32_t>(&s - slots.data());
    std::lock_guard<std::mutex> guard{free_mutex};
    free.push_back(index);
    --taken[index_of(s.which)];
  }

  /// Frees the slot of abandoned call `id` (its reply came, or it is
  /// given up as lost); false when it is not abandoned (any more).
  bool end_abandoned(uint64_t id) {
    auto* s = slot_of(id);
    auto expected = id;
    if (!s || !s->abandoned.compare_exchange_strong(expected, 0,
                                                    std::memory_order_acq_rel,
                                                    std::memory_order_relaxed))
      return false;
    abandoned_calls.fetch_sub(1, std::memory_order_relaxed);
    release(*s);
    return true;
  }

  using ticks = std::chrono::steady_clock::duration;

  static ticks::rep ticks_now() {
    return std::chrono::steady_clock::now().time_since_epoch().count();
  }

  /// With every slot taken: frees those abandoned longer than lost_after
  /// ago, looking at most once per 100 ms (refusals under load stay cheap).
  void take_back_lost() {
    constexpr auto check_every = ticks{std::chrono::milliseconds{100}}.count();
    auto now = ticks_now();
    auto next = next_lost_check.load(std::memory_order_relaxed);
    if (now < next
        || !next_lost_check.compare_exchange_strong(next, now + check_every))
      return;
    auto lost = ticks{lost_after}.count();
    size_t taken_back = 0;
    for (auto& s : slots) {
      auto id = s.abandoned.load(std::memory_order_acquire);
      if (id != 0 && now - s.abandoned_at.load(std::memory_order_relaxed) >= lost
          && end_abandoned(id))
        ++taken_back;
    }
    if (taken_back > 0)
      spdlog::warn("http: {} store calls cancelled more than {} ms ago were "
                   "never answered: their slots are taken back",
                   taken_back, lost_after.count());
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
      // Expected after a 504: the store answered after the deadline, and
      // the slot the call kept is free now (once a cancel() under way has
      // marked it abandoned: a few instructions).
      if (auto* c = slot_of(id))
        while (c->owner.load(std::memory_order_acquire) == (id | cancelling))
          std::this_thread::yield();
      if (!end_abandoned(id))
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

  /// Ends call `id` unanswered: destroys its handler; the slot stays
  /// taken until the store's reply comes (or is given up as lost).
  bool cancel(uint64_t id) {
    auto* s = slot_of(id);
    auto expected = id;
    if (!s || (id & cancelling) != 0
        || !s->owner.compare_exchange_strong(expected, id | cancelling,
                                             std::memory_order_acq_rel,
                                             std::memory_order_relaxed))
      return false; // the reply won, or `id` is over
    auto handler = take(*s);
    abandoned_calls.fetch_add(1, std::memory_order_relaxed);
    s->abandoned_at.store(ticks_now(), std::memory_order_relaxed);
    s->abandoned.store(id, std::memory_order_release);
    s->owner.store(0, std::memory_order_release);
    handler = nullptr; // destroyed here, with what it held
    finish();
    return true;
  }

  /// Ends call `id` unanswered and frees its slot at once: at stop(), when
  /// no reply will be taken any more.
  bool drop(uint64_t id) {
    auto* s = claim(id);
    if (!s)
      return false;
    take_and_free(*s);
    finish();
    return true;
  }

  /// Ends every running call; how many there were. (A cancel() under way
  /// ends its call by itself.)
  size_t drop_all() {
    size_t n = 0;
    for (auto& s : slots)
      if (auto id = s.owner.load(std::memory_order_acquire);
          id != 0 && (id & cancelling) == 0)
        n += drop(id) ? 1 : 0;
    return n;
  }

  /// Slots beyond max_in_flight for each class of operators' calls
  /// (metrics, readiness): they answer while store calls, cancelled ones
  /// included, take every other slot.
  static constexpr size_t ops_slots = 4;

  std::vector<slot> slots;
  std::mutex free_mutex;
  std::vector<uint32_t> free;
  /// Slots each class of calls holds, cancelled ones included
  /// (free_mutex), and may hold.
  std::array<size_t, 3> taken{};
  std::array<size_t, 3> limit{};
  std::atomic<size_t> in_flight{0};
  /// Cancelled calls whose slot waits for the store's reply.
  std::atomic<size_t> abandoned_calls{0};
  std::chrono::milliseconds lost_after;
  std::atomic<ticks::rep> next_lost_check{0};
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

store_bridge::store_bridge(caf::actor_system& sys, size_t max_in_flight,
                           std::chrono::milliseconds lost_after)
  : calls_(std::make_shared<call_table>(std::max<size_t>(1, max_in_flight),
                                        lost_after)) {
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
  return slots_of(call_class::store);
}

size_t store_bridge::slots_of(call_class which) const {
  return calls_->limit[call_table::index_of(which)];
}

size_t store_bridge::abandoned() const {
  return calls_->abandoned_calls.load(std::memory_order_relaxed);
}

uint64_t store_bridge::reserve(reply_handler handler, call_class which) {
  if (!sender_)
    return 0;
  auto id = calls_->reserve(std::move(handler), which);
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
  auto* s = calls_->slot_of(id);
  return s && s->owner.load(std::memory_order_acquire) == id;
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
  if (auto pending = calls_->drop_all(); pending > 0)
    spdlog::warn("http: {} store calls still pending at shutdown: cancelled",
                 pending);
  companion->cleanup(caf::make_error(caf::exit_reason::user_shutdown),
                     nullptr);
  sender_.reset();
  return finished;
}

} // namespace solver_state::gateway
