// One signed DynamoDB JSON API call (X-Amz-Target, SigV4), retried on
// throttling (and reads on 5xx), with DynamoDB's error types mapped to
// state_errc codes.

#include "backends/dynamodb/api.hpp"

#include <algorithm>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace json = boost::json;

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds first_pause{25};
constexpr milliseconds longest_pause{250};

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

/// True for the actions this backend calls that change nothing: one that
/// failed with a 5xx can be sent again whatever happened to the first.
bool changes_nothing(std::string_view action) {
  return action == "GetItem" || action == "BatchGetItem" || action == "Query"
         || action == "Scan" || action == "DescribeTable";
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
          context_for(endpoint_, std::move(tls), setup_error_)),
    jitter_(std::random_device{}()) {
}

milliseconds api_client::retry_pause(int attempt) {
  auto ceiling = std::min(longest_pause,
                          first_pause * (int64_t{1} << std::min(attempt, 8)));
  std::uniform_int_distribution<int64_t> pick{0, ceiling.count()};
  return milliseconds{pick(jitter_)};
}

caf::expected<http_reply> api_client::send(std::string_view action,
                                           std::string body,
                                           milliseconds timeout) {
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
  return http_.post(req.headers, std::move(body), timeout);
}

caf::expected<json::object> api_client::call(std::string_view action,
                                             const json::object& body) {
  last_error_type_.clear();
  if (setup_error_) // never fall back to plain HTTP
    return setup_error_;
  auto text = json::serialize(body);
  auto started = clock_type::now();
  auto deadline = started + endpoint_.request_timeout;
  auto retries_end = started
                     + std::min(retry_budget, endpoint_.request_timeout / 2);
  for (int attempt = 0;; ++attempt) {
    // A retry gets what is left of the call's time.
    auto left = attempt == 0
                  ? endpoint_.request_timeout
                  : std::chrono::duration_cast<milliseconds>(
                      deadline - clock_type::now());
    auto reply = send(action, text, std::max(left, milliseconds{1}));
    if (!reply)
      return std::move(reply.error());
    json::error_code ec;
    auto parsed = json::parse(reply->body, ec);
    if (reply->status == 200) {
      last_error_type_.clear();
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
    bool transient = is_throttling(type) || reply->status >= 500;
    if (is_throttling(type)
        || (reply->status >= 500 && changes_nothing(action))) {
      auto pause = retry_pause(attempt);
      if (clock_type::now() + pause < retries_end) {
        std::this_thread::sleep_for(pause);
        continue;
      }
    }
    if (attempt > 0)
      what += " (" + std::to_string(attempt + 1) + " attempts in "
              + std::to_string(
                std::chrono::duration_cast<milliseconds>(clock_type::now()
                                                         - started)
                  .count())
              + " ms)";
    return make_state_error(transient ? state_errc::backend_unavailable
                                      : state_errc::backend_error,
                            what);
  }
}

} // namespace solver_state::dynamodb
