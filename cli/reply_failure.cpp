// Error answers of the service → exit codes and messages.

#include "cli/reply_failure.hpp"

#include <boost/json.hpp>

#include "cli/answer_json.hpp"

namespace solver_state::cli {

namespace {

exit_code exit_for_status(unsigned status) {
  switch (status) {
    case 404:
      return exit_not_found;
    case 412:
      return exit_conflict;
    case 503:
    case 504:
      return exit_unavailable;
    default:
      return exit_server_error;
  }
}

/// The "code" and "message" of an error body; empty when it has none (a
/// proxy's HTML page, say).
std::pair<std::string, std::string> error_body(const std::string& body) {
  boost::json::error_code ec;
  auto doc = parse_answer(body, ec);
  if (ec || !doc.is_object())
    return {};
  auto* err = doc.as_object().if_contains("error");
  if (!err || !err->is_object())
    return {};
  auto text = [&](const char* name) {
    auto* v = err->as_object().if_contains(name);
    return v && v->is_string() ? std::string{v->as_string()} : std::string{};
  };
  return {text("code"), text("message")};
}

} // namespace

failure failure_of(const http_reply& reply) {
  auto [code, message] = error_body(reply.body);
  failure out;
  out.code = exit_for_status(reply.status);
  out.error = code.empty() ? "http_" + std::to_string(reply.status) : code;
  out.message = out.error;
  if (!message.empty())
    out.message += ": " + message;
  out.message += " (HTTP " + std::to_string(reply.status);
  auto id = reply.header("x-request-id");
  if (!id.empty())
    out.message += ", request id " + id;
  out.message += ")";
  return out;
}

failure route_failure_of(const http_reply& reply) {
  auto out = failure_of(reply);
  if (reply.status == 404) {
    out.code = exit_server_error;
    out.message += "; the service may be older than this client";
  }
  return out;
}

} // namespace solver_state::cli
