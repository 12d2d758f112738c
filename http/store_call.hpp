#pragma once

// store_bridge::ask: include this only in handler sources (it pulls in the
// CAF message headers).

#include <type_traits>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/message_id.hpp>
#include <caf/response_type.hpp>
#include <caf/sec.hpp>
#include <caf/type_erased_tuple.hpp>

#include "http/store_bridge.hpp"

namespace solver_state::gateway {

/// A reply's content as the answer to a call expecting `Result`: the value,
/// the error the store answered with, or unexpected_response.
template <class Result>
caf::expected<Result> decode_reply(caf::type_erased_tuple& reply) {
  if (reply.match_elements<Result>())
    return reply.move_if_unshared<Result>(0);
  if (reply.match_elements<caf::error>())
    return reply.move_if_unshared<caf::error>(0);
  return caf::make_error(caf::sec::unexpected_response);
}

template <class Result, class Dest, class OnResult, class... Ts>
bool store_bridge::ask(const Dest& dest, OnResult on_result, Ts... msg) {
  return start<Result>(call_class::store, dest, std::move(on_result),
                       std::move(msg)...);
}

template <class Result, class Dest, class OnResult, class... Ts>
bool store_bridge::ask_ops(call_class which, const Dest& dest,
                           OnResult on_result, Ts... msg) {
  return start<Result>(which, dest, std::move(on_result), std::move(msg)...);
}

template <class Result, class Dest, class OnResult, class... Ts>
bool store_bridge::start(call_class which, const Dest& dest,
                         OnResult on_result, Ts... msg) {
  static_assert(
    std::is_same_v<caf::response_type_t<typename Dest::signatures, Ts...>,
                   caf::detail::type_list<Result>>,
    "the destination does not answer these messages with Result");
  auto id = reserve([on_result = std::move(on_result)](
                      caf::type_erased_tuple& reply) mutable {
    on_result(decode_reply<Result>(reply));
  }, which);
  if (id == 0)
    return false;
  auto mid = caf::make_message_id(caf::normal_message_priority_constant{}, id);
  send(caf::actor_cast<caf::strong_actor_ptr>(dest), id,
       caf::make_mailbox_element(sender_, mid, {}, std::move(msg)...));
  return true;
}

} // namespace solver_state::gateway
