#pragma once

// The bearer token's one rule, shared by the service (http.auth_token,
// SOLVER_STATE_AUTH_TOKEN) and solver-state-cli (--token-file, the same
// variable): a token a client can present at all.

#include <string>
#include <string_view>

namespace solver_state {

/// Why `token` could never be presented in an Authorization header, or ""
/// when it can: whitespace at either end (HTTP and the gateway trim it from
/// what clients send) or a control byte anywhere (a header cannot carry one;
/// often the newline that ends a secret file). Never quotes the token.
std::string auth_token_problem(std::string_view token);

} // namespace solver_state
