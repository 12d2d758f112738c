// Export and import when the backend goes away mid-way, against the real
// service on a real redis-server: a stream that already said 200 is broken
// off (the client sees a truncated transfer, the log names the request), and
// an import answers 503 saying how much it wrote.

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/redis_server.hpp"

using namespace solver_state::testing;
namespace json = boost::json;

namespace {

std::string lines(const std::string& prefix, int n, const std::string& value) {
  std::string body;
  for (int i = 0; i < n; ++i)
    body += "{\"key\":\"" + prefix + std::to_string(i) + "\",\"value\":\""
            + value + "\",\"expires_at_ms\":null}\n";
  return body;
}

} // namespace

TEST_CASE("a backend lost mid-export truncates the stream and is logged "
          "with the request id, and an import then answers 503") {
  redis_server redis;
  service_process svc{"state:\n  type: \"" + redis.url()
                      + "\"\n  shards: 2\nhttp:\n  request_timeout: 2s\n"};
  http_client c{svc.port()};
  // 27 MB of export: far more than the sockets buffer, so the service is
  // still walking the store when the backend goes.
  REQUIRE(c.request("POST", "/v1/import",
                    lines("state:k:", 20'000, std::string(1'368, 'A')))
            .status
          == 200);
  size_t bytes = 0;
  bool killed = false;
  auto e = stream_get(svc.port(), "/v1/export", [&](std::string_view piece) {
    bytes += piece.size();
    if (!killed) {
      killed = true;
      redis.kill();
    }
    return true;
  });
  CHECK(e.status == 200);
  CHECK(killed);
  CHECK_FALSE(e.complete); // no terminating chunk: the client can tell
  CHECK(bytes < 27'000'000);
  auto id = e.headers["x-request-id"];
  REQUIRE_FALSE(id.empty());
  auto log = svc.log();
  CHECK(log.find("warn") != std::string::npos);
  CHECK(log.find("stream broken off") != std::string::npos);
  CHECK(log.find("request_id=" + id) != std::string::npos);

  auto r = c.request("POST", "/v1/import", lines("state:new:", 500, "YQ=="));
  CHECK(r.status == 503);
  auto message = json::parse(r.body).at("error").at("message");
  CHECK_THAT(std::string{message.as_string().c_str()},
             Catch::Contains("of 500 lines were imported before the failure"));
  // The exit status is not the point here: closing a store whose server
  // is gone may fail.
  svc.stop(SIGTERM);
}
