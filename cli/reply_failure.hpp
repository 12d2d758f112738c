#pragma once

// The service's error answers as failures: its status picks the exit code,
// its body {"error":{"code","message"}} the words.

#include "cli/failure.hpp"
#include "cli/http_connection.hpp"

namespace solver_state::cli {

/// 404 → exit_not_found, 412 → exit_conflict, 503 and 504 →
/// exit_unavailable, anything else → exit_server_error. The message names
/// the service's code, its message, the status and the request id (the
/// service logs it, so an operator can find the request there).
failure failure_of(const http_reply& reply);

/// As failure_of, but a 404 is exit_server_error: for routes that always
/// exist, where 404 means a service without that route.
failure route_failure_of(const http_reply& reply);

} // namespace solver_state::cli
