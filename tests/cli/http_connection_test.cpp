// The client's connection against a fake server (tests/support/
// fake_http_server.hpp): what it says when an answer stops coming.

#include <chrono>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "cli/http_connection.hpp"
#include "tests/support/fake_http_server.hpp"

using namespace solver_state::cli;
using solver_state::testing::fake_http_server;

namespace {

/// Streams "/v1/watch" from `server` as the watch does, with `timeout` for
/// the connection and `idle` for each wait inside the body; the failure.
failure stream_failure(const fake_http_server& server,
                       std::chrono::milliseconds timeout,
                       std::chrono::milliseconds idle) {
  auto url = parse_server_url(server.url());
  REQUIRE(url);
  http_connection http{*url, std::nullopt, timeout};
  stream_options options;
  options.idle = idle;
  options.as_it_arrives = true;
  auto r = http.stream("/v1/watch", [](std::string_view) -> maybe_failure {
    return {};
  }, options);
  REQUIRE_FALSE(r);
  return r.error();
}

} // namespace

TEST_CASE("a stream that goes silent names the limit that applied: the "
          "idle limit inside the body, the timeout before it") {
  using std::chrono::milliseconds;
  // Headers, then nothing: the idle limit (not the timeout) gave up.
  fake_http_server silent_body{[](const std::string&, size_t) {
    return fake_http_server::reply{
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
      false, true};
  }};
  auto body = stream_failure(silent_body, milliseconds{10'000},
                             milliseconds{200});
  INFO(body.message);
  CHECK(body.code == exit_unavailable);
  CHECK_THAT(body.message, Catch::EndsWith(": no answer within 200 ms"));

  // Nothing at all: the timeout, whatever the idle limit.
  fake_http_server silent{[](const std::string&, size_t) {
    return fake_http_server::reply{"", false, true};
  }};
  auto head = stream_failure(silent, milliseconds{200}, milliseconds{10'000});
  INFO(head.message);
  CHECK(head.code == exit_unavailable);
  CHECK_THAT(head.message, Catch::EndsWith(": no answer within 200 ms"));
}
