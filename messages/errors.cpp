// The error category of solver-state: code names, construction, and the
// mapping of CAF's own errors (timeouts, lost peers) onto our codes.

#include "messages/errors.hpp"

#include <iterator>
#include <string>

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace solver_state {

namespace {

constexpr const char* code_names[] = {
#define SOLVER_STATE_ERRC_NAME(name) #name,
  SOLVER_STATE_ERROR_CODES(SOLVER_STATE_ERRC_NAME)
#undef SOLVER_STATE_ERRC_NAME
};
static_assert(std::size(code_names) == state_errc_count);

state_errc code_of_sec(caf::sec s) {
  switch (s) {
    case caf::sec::request_timeout:
      return state_errc::timeout;
    case caf::sec::request_receiver_down:
    case caf::sec::cannot_connect_to_node:
    case caf::sec::no_route_to_receiving_node:
    case caf::sec::remote_linking_failed:
    case caf::sec::remote_lookup_failed:
    case caf::sec::connection_timeout:
    case caf::sec::socket_disconnected:
    case caf::sec::disconnect_during_handshake:
      return state_errc::backend_unavailable;
    case caf::sec::unexpected_message:
    case caf::sec::unexpected_response:
    case caf::sec::unexpected_actor_messaging_interface:
      return state_errc::serialization_error;
    default:
      return state_errc::backend_error;
  }
}

/// CAF's own errors reach clients as messages: each says what happened in
/// the service's terms and keeps CAF's name for the log and for searching.
std::string explain_sec(caf::sec s) {
  auto name = caf::to_string(s);
  switch (s) {
    case caf::sec::request_receiver_down:
      return "the actor that held this request stopped before answering "
             "(the service is stopping, or a shard, coordinator or peer "
             "failed; the log says which): "
             + name;
    case caf::sec::request_timeout:
      return "no answer within the request's deadline: " + name;
    case caf::sec::cannot_connect_to_node:
    case caf::sec::no_route_to_receiving_node:
    case caf::sec::connection_timeout:
    case caf::sec::socket_disconnected:
    case caf::sec::disconnect_during_handshake:
      return "a cluster peer is unreachable: " + name;
    default:
      return name;
  }
}

} // namespace

const char* to_string(state_errc code) {
  auto i = static_cast<size_t>(code);
  return i < std::size(code_names) ? code_names[i] : "backend_error";
}

caf::atom_value state_error_category() {
  return caf::atom("state");
}

caf::error make_state_error(state_errc code, std::string message) {
  return caf::make_error(code, std::move(message));
}

namespace {

/// What marks a value error: a second element of the error's context.
caf::atom_value value_mark() {
  return caf::atom("value");
}

} // namespace

caf::error make_value_error(std::string message) {
  return caf::make_error(state_errc::backend_error, std::move(message),
                         value_mark());
}

bool is_value_error(const caf::error& err) {
  if (!err || err.category() != state_error_category()
      || static_cast<state_errc>(err.code()) != state_errc::backend_error)
    return false;
  const auto& ctx = err.context();
  return ctx.size() == 2 && ctx.match_element<caf::atom_value>(1)
         && ctx.get_as<caf::atom_value>(1) == value_mark();
}

state_errc code_of(const caf::error& err) {
  if (!err)
    return state_errc::none;
  if (err.category() == state_error_category())
    return static_cast<state_errc>(err.code());
  if (err.category() == caf::atom("system"))
    return code_of_sec(static_cast<caf::sec>(err.code()));
  return state_errc::backend_error;
}

std::string message_of(const caf::error& err) {
  if (!err)
    return {};
  const auto& ctx = err.context();
  if (err.category() == state_error_category() && ctx.size() >= 1
      && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  if (err.category() == caf::atom("system"))
    return explain_sec(static_cast<caf::sec>(err.code()));
  return caf::to_string(err);
}

} // namespace solver_state
