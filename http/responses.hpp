#pragma once

// Building responses: every error body, everywhere, comes from here.

#include <string>
#include <string_view>

#include <caf/fwd.hpp>

#include "http/message.hpp"
#include "messages/errors.hpp"

namespace solver_state::gateway {

response_t make_response(unsigned status, std::string body,
                         const char* content_type);

response_t json_response(unsigned status, std::string body);

/// No body (204, 304).
response_t empty_response(unsigned status);

/// The JSON error body with the status of docs/api.md's table.
response_t error_response(state_errc code, std::string_view message);

/// The JSON error body of `code` under another status than the code's own:
/// 431 Request Header Fields Too Large (RFC 6585) and 414 URI Too Long carry
/// bad_request.
response_t error_response(unsigned status, state_errc code,
                          std::string_view message);

/// Same, for an error that came back from an actor.
response_t error_response(const caf::error& err);

/// 401 unauthorized with the WWW-Authenticate challenge (RFC 6750).
response_t unauthorized_response();

} // namespace solver_state::gateway
