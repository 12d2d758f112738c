#pragma once

// The exit codes scripts branch on. They are part of the command-line
// contract (docs/cli.md): never renumber them.

namespace solver_state::cli {

enum exit_code : int {
  exit_ok = 0,
  /// The key is absent (get, or a write or delete conditioned on it).
  exit_not_found = 1,
  /// Bad arguments or a bad import file: nothing was sent.
  exit_usage = 2,
  /// A condition did not hold (412 version_mismatch).
  exit_conflict = 3,
  /// The service could not answer: connection refused, timeout, 503, 504.
  exit_unavailable = 4,
  /// Any other error answer of the service (4xx, 5xx).
  exit_server_error = 5,
};

} // namespace solver_state::cli
