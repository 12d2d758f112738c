#pragma once

// The error vocabulary of solver-state, shared by actors, backends, the HTTP
// gateway and remote nodes. One enum, one CAF error category: errors travel as
// values (caf::error, caf::expected<T>), never as exceptions.

#include <cstddef>
#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace solver_state {

/// Every error code, in order, once. The enum, its wire names and its count
/// are generated from this list so they cannot drift apart; every other table
/// indexed by code (HTTP statuses, metrics results) static_asserts its size
/// against state_errc_count.
#define SOLVER_STATE_ERROR_CODES(X)                                          \
  X(none)                                                                    \
  X(not_found)                                                               \
  X(invalid_key)                                                             \
  X(version_mismatch)                                                        \
  X(capacity_exceeded)                                                       \
  X(backend_unavailable)                                                     \
  X(backend_error)                                                           \
  X(serialization_error)                                                     \
  X(io_error)                                                                \
  X(timeout)                                                                 \
  X(unauthorized)                                                            \
  X(bad_request)                                                             \
  X(payload_too_large)                                                       \
  X(method_not_allowed)                                                      \
  X(cross_node_transaction)                                                  \
  X(insufficient_storage)

enum class state_errc : uint8_t {
#define SOLVER_STATE_ERRC_ENUMERATOR(name) name,
  SOLVER_STATE_ERROR_CODES(SOLVER_STATE_ERRC_ENUMERATOR)
#undef SOLVER_STATE_ERRC_ENUMERATOR
};

/// The number of codes, none included.
constexpr size_t state_errc_count = 0
#define SOLVER_STATE_ERRC_ONE(name) +1
  SOLVER_STATE_ERROR_CODES(SOLVER_STATE_ERRC_ONE);
#undef SOLVER_STATE_ERRC_ONE

/// The wire name of a code, as used in HTTP error bodies ("not_found", ...).
const char* to_string(state_errc code);

/// Builds an error of our category with a human-readable message.
caf::error make_state_error(state_errc code, std::string message);

/// backend_error for one stored value that cannot be read (altered, cut
/// short, sealed under a key that is not configured), where the backend
/// itself works: a walk over many keys (building the indexes, a query
/// page, a rotation) goes past it, while a backend_error of the backend
/// (a refused statement, a denied request) stops the walk.
caf::error make_value_error(std::string message);

/// True for an error made by make_value_error.
bool is_value_error(const caf::error& err);

/// Maps any error (ours, or CAF's own such as request_timeout) to our code.
state_errc code_of(const caf::error& err);

/// The human-readable message carried by an error, or a generic one.
std::string message_of(const caf::error& err);

/// The CAF error category atom of state_errc.
caf::atom_value state_error_category();

} // namespace solver_state

CAF_ERROR_CODE_ENUM(solver_state::state_errc, "state")
