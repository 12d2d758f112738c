// Builds gateway responses: raw, JSON and empty ones, and every error
// response, with the HTTP status http_status_of() gives its code.

#include "http/responses.hpp"

#include <caf/error.hpp>

#include "http/json_codec.hpp"
#include "http/status.hpp"

namespace solver_state::gateway {

response_t make_response(unsigned status, std::string body,
                         const char* content_type) {
  response_t res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

response_t json_response(unsigned status, std::string body) {
  return make_response(status, std::move(body), "application/json");
}

response_t empty_response(unsigned status) {
  return response_t{static_cast<bhttp::status>(status), 11};
}

response_t error_response(state_errc code, std::string_view message) {
  auto res = json_response(http_status_of(code), error_body(code, message));
  // Every 503 says when to come back (docs/api.md): a client's retry logic
  // should not depend on which bound or which backend said no.
  if (code == state_errc::backend_unavailable)
    res.set(bhttp::field::retry_after, "1");
  return res;
}

response_t error_response(unsigned status, state_errc code,
                          std::string_view message) {
  return json_response(status, error_body(code, message));
}

response_t error_response(const caf::error& err) {
  return error_response(code_of(err), message_of(err));
}

response_t unauthorized_response() {
  auto res = error_response(state_errc::unauthorized,
                            "missing or wrong bearer token");
  res.set(bhttp::field::www_authenticate, "Bearer realm=\"solver-state\"");
  return res;
}

} // namespace solver_state::gateway
