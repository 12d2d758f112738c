// Error answers of the service → exit codes and messages.

#include "cli/reply_failure.hpp"

#include <string_view>

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

/// What the service answers for a path no route has (docs/api.md): the
/// same code as for an absent key, told apart by this message.
constexpr std::string_view no_such_path = "no such path";

/// "CODE: MESSAGE (HTTP N, request id ID)": the service's words, its status,
/// and the id its log lines about the request carry.
std::string describe(const http_reply& reply, const std::string& code,
                     const std::string& message) {
  auto out = code.empty() ? "http_" + std::to_string(reply.status) : code;
  if (!message.empty())
    out += ": " + message;
  out += " (HTTP " + std::to_string(reply.status);
  auto id = reply.header("x-request-id");
  if (!id.empty())
    out += ", request id " + id;
  return out + ")";
}

/// A 404 that is not the service saying a key is absent: `hint` says what
/// else it may be.
failure wrong_api(const http_reply& reply, const std::string& hint) {
  auto [code, message] = error_body(reply.body);
  return {exit_server_error, "bad_answer",
          describe(reply, code, message) + "; " + hint
            + ": check --url or SOLVER_STATE_URL"};
}

} // namespace

bool is_absent_key(const http_reply& reply) {
  if (reply.status != 404)
    return false;
  auto [code, message] = error_body(reply.body);
  return code == "not_found" && message != no_such_path;
}

failure failure_of(const http_reply& reply) {
  // Any other 404 is a wrong URL (a base path the service does not serve)
  // or another server: "not found" would send a script down the path of an
  // absent key.
  if (reply.status == 404 && !is_absent_key(reply))
    return wrong_api(reply, "not a solver-state API at this URL");
  auto [code, message] = error_body(reply.body);
  failure out;
  out.code = exit_for_status(reply.status);
  out.error = code.empty() ? "http_" + std::to_string(reply.status) : code;
  out.message = describe(reply, code, message);
  return out;
}

failure route_failure_of(const http_reply& reply) {
  if (reply.status == 404)
    return wrong_api(reply, "not a solver-state API at this URL, or one "
                            "older than this client");
  return failure_of(reply);
}

} // namespace solver_state::cli
