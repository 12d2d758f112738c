#pragma once

// store_bridge::ask: include this only in handler sources (it pulls in the
// CAF actor headers).

#include <memory>
#include <optional>
#include <utility>

#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>

#include "http/store_bridge.hpp"

namespace solver_state::gateway {

template <class Result, class Dest, class OnResult, class... Ts>
bool store_bridge::ask(Dest dest, OnResult on_result, Ts... msg) {
  if (!try_acquire())
    return false;
  post([slots = slots_, dest = std::move(dest),
        on_result = std::move(on_result),
        msg...](caf::event_based_actor* self) mutable {
    auto pending = std::make_shared<std::optional<OnResult>>(
      std::move(on_result));
    // The callback is moved out and destroyed before the slot is released:
    // once the in-flight count drops, no CAF thread holds a connection any
    // more, which is what stop() waits for before it destroys the io_context.
    auto finish = [slots, pending](caf::expected<Result> outcome) {
      {
        auto callback = std::move(**pending);
        pending->reset();
        callback(std::move(outcome));
      }
      slots->in_flight.fetch_sub(1, std::memory_order_acq_rel);
    };
    self->request(dest, caf::infinite, std::move(msg)...)
      .then([finish](Result& r) { finish(std::move(r)); },
            [finish](caf::error& e) { finish(std::move(e)); });
  });
  return true;
}

} // namespace solver_state::gateway
