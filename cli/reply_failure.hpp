#pragma once

// The service's error answers as failures: its status picks the exit code,
// its body {"error":{"code","message"}} the words.

#include "cli/failure.hpp"
#include "cli/http_connection.hpp"

namespace solver_state::cli {

/// True when `reply` is the service's own answer for an absent key: 404
/// with its JSON error "not_found", but not the "no such path" of a URL no
/// route serves. A 404 of a wrong --url base or of another server is not.
bool is_absent_key(const http_reply& reply);

/// 404 → exit_not_found when is_absent_key (else exit_server_error,
/// "bad_answer": not a solver-state API at this URL), 412 → exit_conflict,
/// 503 and 504 → exit_unavailable, anything else → exit_server_error. The
/// message names the service's code, its message, the status and the
/// request id (the service logs it, so an operator can find the request
/// there).
failure failure_of(const http_reply& reply);

/// As failure_of, but any 404 is exit_server_error ("bad_answer"): for
/// routes that always exist, where 404 means another server, a wrong URL,
/// or a service without that route.
failure route_failure_of(const http_reply& reply);

} // namespace solver_state::cli
