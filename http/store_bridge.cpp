#include "http/store_bridge.hpp"

#include <algorithm>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

namespace solver_state::gateway {

/// The message carrying a job to a lane. Local only: never serialized.
struct bridge_job {
  store_bridge::job run;
};

} // namespace solver_state::gateway

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(solver_state::gateway::bridge_job)

namespace solver_state::gateway {

namespace {

constexpr size_t per_lane = 64;
constexpr size_t max_lanes = 64;

caf::behavior lane(caf::event_based_actor* self) {
  return {
    [=](const bridge_job& j) { j.run(self); },
  };
}

} // namespace

store_bridge::store_bridge(caf::actor_system& sys, size_t max_in_flight)
  : slots_(std::make_shared<slots>()) {
  slots_->max = std::max<size_t>(1, max_in_flight);
  auto n = std::clamp<size_t>((slots_->max + per_lane - 1) / per_lane, 1,
                              max_lanes);
  for (size_t i = 0; i < n; ++i)
    lanes_.push_back(sys.spawn(lane));
}

store_bridge::~store_bridge() {
  stop(std::chrono::milliseconds{0});
}

bool store_bridge::try_acquire() {
  auto& n = slots_->in_flight;
  if (n.fetch_add(1, std::memory_order_acq_rel) >= slots_->max) {
    n.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  return true;
}

void store_bridge::post(job j) {
  auto i = next_lane_.fetch_add(1, std::memory_order_relaxed) % lanes_.size();
  caf::anon_send(lanes_[i], bridge_job{std::move(j)});
}

bool store_bridge::stop(std::chrono::milliseconds limit) {
  if (lanes_.empty())
    return in_flight() == 0;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  auto pending = in_flight();
  if (pending > 0)
    spdlog::warn("http: {} store calls still pending at shutdown", pending);
  for (auto& l : lanes_)
    caf::anon_send_exit(l, caf::exit_reason::user_shutdown);
  lanes_.clear();
  return pending == 0;
}

} // namespace solver_state::gateway
