#pragma once

// The error vocabulary of solver-state, shared by actors, backends, the HTTP
// gateway and remote nodes. One enum, one CAF error category: errors travel as
// values (caf::error, caf::expected<T>), never as exceptions.

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace solver_state {

enum class state_errc : uint8_t {
  none = 0,
  not_found,
  invalid_key,
  version_mismatch,
  capacity_exceeded,
  backend_unavailable,
  backend_error,
  serialization_error,
  io_error,
  timeout,
  unauthorized,
  bad_request,
  payload_too_large,
  method_not_allowed,
};

/// The wire name of a code, as used in HTTP error bodies ("not_found", ...).
const char* to_string(state_errc code);

/// Builds an error of our category with a human-readable message.
caf::error make_state_error(state_errc code, std::string message);

/// Maps any error (ours, or CAF's own such as request_timeout) to our code.
state_errc code_of(const caf::error& err);

/// The human-readable message carried by an error, or a generic one.
std::string message_of(const caf::error& err);

/// The CAF error category atom of state_errc.
caf::atom_value state_error_category();

} // namespace solver_state

CAF_ERROR_CODE_ENUM(solver_state::state_errc, "state")
