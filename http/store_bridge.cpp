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
/// its generation and dropped.
struct store_bridge::call_table {
  struct slot {
    reply_handler handler;
    uint32_t generation = 0;
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
    return (uint64_t{s.generation} << 32) | (uint64_t{index} + 1);
  }

  /// Runs the handler of call `id` with `reply` and frees its slot. The
  /// handler is destroyed before the slot is released: once in_flight drops
  /// to zero no CAF thread holds a connection any more, which is what stop()
  /// waits for before the io_context goes away.
  void complete(uint64_t id, caf::type_erased_tuple& reply) {
    auto index = (id & 0xFFFFFFFFu) - 1;
    auto generation = (id >> 32) & generation_mask;
    if (index >= slots.size() || slots[index].generation != generation
        || !slots[index].handler) {
      spdlog::warn("http: dropped a store reply for an unknown call {}", id);
      return;
    }
    auto& s = slots[index];
    {
      auto handler = std::move(s.handler);
      s.handler = nullptr;
      handler(reply);
    }
    s.generation = static_cast<uint32_t>((s.generation + 1) & generation_mask);
    {
      std::lock_guard<std::mutex> guard{free_mutex};
      free.push_back(static_cast<uint32_t>(index));
    }
    in_flight.fetch_sub(1, std::memory_order_acq_rel);
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

} // namespace

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
  return calls_->reserve(std::move(handler));
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
  auto pending = in_flight();
  if (pending > 0)
    spdlog::warn("http: {} store calls still pending at shutdown", pending);
  // What actor_companion::disconnect() does (Debian's libcaf_core does not
  // export it): drop the hook, then terminate the actor so the actor system
  // does not wait for it at shutdown.
  auto companion = companion_of(sender_);
  companion->on_enqueue(caf::actor_companion::enqueue_handler{});
  companion->cleanup(caf::make_error(caf::exit_reason::user_shutdown),
                     nullptr);
  sender_.reset();
  return pending == 0;
}

} // namespace solver_state::gateway
