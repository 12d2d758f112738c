#pragma once

// Reading a command's input (a value to put, a transaction body) from a
// file or stdin, with the one size bound every service has.

#include <cstddef>
#include <string>

#include "cli/failure.hpp"

namespace solver_state::cli {

/// No service takes a body over 1 GiB (the ceiling of http.max_body_bytes):
/// larger input is refused before it is read into memory whole.
constexpr size_t max_input_bytes = size_t{1} << 30;

/// FILE's bytes, or stdin's for "-"; a usage failure naming the source when
/// it cannot be read or is over max_input_bytes. `what` names the input in
/// that message ("value", "body").
expected<std::string> read_input(const std::string& source,
                                 const std::string& what);

} // namespace solver_state::cli
