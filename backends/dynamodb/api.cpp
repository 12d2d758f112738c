// One signed DynamoDB JSON API call (X-Amz-Target, SigV4), retried on
// throttling, with DynamoDB's error types mapped to state_errc codes.

#include "backends/dynamodb/api.hpp"

#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace json = boost::json;

namespace {

constexpr int throttle_retries = 3;

/// "ConditionalCheckFailedException" of
/// "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException".
std::string error_type(const json::object& reply) {
  auto type = reply.if_contains("__type");
  if (!type || !type->is_string())
    return {};
  std::string_view text = type->as_string();
  auto hash = text.rfind('#');
  return std::string{hash == std::string_view::npos ? text
                                                    : text.substr(hash + 1)};
}

std::string error_message(const json::object& reply) {
  for (auto name : {"message", "Message"})
    if (auto m = reply.if_contains(name); m && m->is_string())
      return std::string{m->as_string()};
  return {};
}

bool is_throttling(std::string_view type) {
  return type == "ProvisionedThroughputExceededException"
         || type == "ThrottlingException" || type == "RequestLimitExceeded";
}

/// `given`, or for an HTTPS endpoint without one a context of its own;
/// null with `err` set when it cannot be made.
tls_context context_for(const endpoint& ep, tls_context given,
                        caf::error& err) {
  if (!ep.tls || given)
    return given;
  auto made = make_tls_context(ep);
  if (!made) {
    err = std::move(made.error());
    return nullptr;
  }
  return std::move(*made);
}

} // namespace

api_client::api_client(endpoint ep, aws::credentials creds, tls_context tls)
  : api_client(std::move(ep), aws::fixed_credentials(std::move(creds)),
               std::move(tls)) {
}

api_client::api_client(endpoint ep,
                       std::shared_ptr<aws::credential_source> creds,
                       tls_context tls)
  : endpoint_(std::move(ep)),
    creds_(std::move(creds)),
    http_(endpoint_.host, endpoint_.port, endpoint_.connect_timeout,
          endpoint_.request_timeout,
          context_for(endpoint_, std::move(tls), setup_error_)) {
}

caf::expected<http_reply> api_client::send(std::string_view action,
                                           std::string body) {
  auto creds = creds_->current();
  if (!creds) // no request goes out unsigned, nor with expired keys
    return std::move(creds.error());
  auto date = aws::amz_date(std::chrono::system_clock::now());
  aws::request_to_sign req;
  req.method = "POST";
  req.path = "/";
  req.headers = {
    {"host", endpoint_.host_header()},
    {"content-type", "application/x-amz-json-1.0"},
    {"x-amz-date", date},
    {"x-amz-target", "DynamoDB_20120810." + std::string{action}},
  };
  if (!creds->session_token.empty())
    req.headers.emplace_back("x-amz-security-token", creds->session_token);
  req.payload = body;
  auto auth = aws::authorization(*creds, endpoint_.region, "dynamodb", date,
                                 req);
  req.headers.emplace_back("authorization", std::move(auth));
  return http_.post(req.headers, std::move(body));
}

caf::expected<json::object> api_client::call(std::string_view action,
                                             const json::object& body) {
  last_error_type_.clear();
  if (setup_error_) // never fall back to plain HTTP
    return setup_error_;
  auto text = json::serialize(body);
  for (int attempt = 0;; ++attempt) {
    auto reply = send(action, text);
    if (!reply)
      return std::move(reply.error());
    json::error_code ec;
    auto parsed = json::parse(reply->body, ec);
    if (reply->status == 200) {
      if (ec || !parsed.is_object())
        return make_state_error(state_errc::serialization_error,
                                "DynamoDB " + std::string{action}
                                  + " replied with malformed JSON");
      return std::move(parsed.as_object());
    }
    json::object err;
    if (!ec && parsed.is_object())
      err = std::move(parsed.as_object());
    auto type = error_type(err);
    last_error_type_ = type;
    auto what = "DynamoDB " + std::string{action} + ": "
                + (type.empty() ? "HTTP " + std::to_string(reply->status)
                                : type)
                + (error_message(err).empty() ? "" : ": " + error_message(err));
    if (type == "ConditionalCheckFailedException")
      return make_state_error(state_errc::version_mismatch, what);
    if (is_throttling(type) && attempt < throttle_retries) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20 << attempt});
      continue;
    }
    if (is_throttling(type) || reply->status >= 500)
      return make_state_error(state_errc::backend_unavailable, what);
    return make_state_error(state_errc::backend_error, what);
  }
}

} // namespace solver_state::dynamodb
