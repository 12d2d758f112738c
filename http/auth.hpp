#pragma once

// Bearer-token authentication (http.auth_token / SOLVER_STATE_AUTH_TOKEN).

#include <string_view>

namespace solver_state::gateway {

/// Compares in time that depends only on the lengths, never on where the
/// first difference is, so the token cannot be guessed byte by byte.
bool constant_time_equal(std::string_view a, std::string_view b);

/// True when the Authorization header value is "Bearer <token>" (the scheme
/// is case-insensitive, as RFC 7235 says).
bool bearer_matches(std::string_view authorization, std::string_view token);

} // namespace solver_state::gateway
