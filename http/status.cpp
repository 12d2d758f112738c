// The mapping from each state_errc code to the HTTP status of its error
// response: one row per code, in the enum's order, checked at compile time.

#include "http/status.hpp"

#include <iterator>
#include <utility>

namespace solver_state::gateway {

namespace {

constexpr std::pair<state_errc, unsigned> statuses[] = {
  {state_errc::none, 200},
  {state_errc::not_found, 404},
  {state_errc::invalid_key, 400},
  {state_errc::version_mismatch, 412},
  {state_errc::capacity_exceeded, 507},
  {state_errc::backend_unavailable, 503},
  {state_errc::backend_error, 500},
  {state_errc::serialization_error, 500},
  {state_errc::io_error, 500},
  {state_errc::timeout, 504},
  {state_errc::unauthorized, 401},
  {state_errc::bad_request, 400},
  {state_errc::payload_too_large, 413},
  {state_errc::method_not_allowed, 405},
  {state_errc::cross_node_transaction, 400},
  {state_errc::insufficient_storage, 507},
};

constexpr bool one_row_per_code_in_order() {
  for (size_t i = 0; i < std::size(statuses); ++i)
    if (static_cast<size_t>(statuses[i].first) != i)
      return false;
  return std::size(statuses) == state_errc_count;
}

static_assert(one_row_per_code_in_order(),
              "every state_errc needs its HTTP status, in enum order");

} // namespace

unsigned http_status_of(state_errc code) {
  auto i = static_cast<size_t>(code);
  return i < std::size(statuses) ? statuses[i].second : 500;
}

} // namespace solver_state::gateway
