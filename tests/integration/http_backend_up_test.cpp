// solver_state_backend_up of the live service on a real redis-server that
// goes away: the shards' health check has its own 5 s timer, so the gauge
// follows the backend whatever state.sweep_interval is.

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/redis_server.hpp"

using namespace solver_state::testing;

namespace {

/// /metrics once it holds `wanted`, or the last one read at `limit`.
std::string metrics_within(http_client& c, const std::string& wanted,
                           std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  std::string text;
  while (std::chrono::steady_clock::now() < deadline) {
    text = c.get("/metrics").body;
    if (text.find(wanted) != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  return text;
}

} // namespace

// Found by review: the health check ran on the sweep's tick only, so under
// sweep_interval: 60s the gauge said nothing for a minute after the start
// and kept saying 1 for up to a minute after the backend died.
TEST_CASE("solver_state_backend_up turns 0 within about 5 s of the backend "
          "going away, under a sweep_interval of 60 s") {
  redis_server redis;
  service_process svc{"state:\n  type: \"" + redis.url()
                      + "\"\n  shards: 2\n  sweep_interval: 60s\n"};
  http_client c{svc.port()};
  const std::string up = "solver_state_backend_up{backend=\"redis\","
                         "shard=\"1\"} 1\n";
  auto text = metrics_within(c, up, std::chrono::seconds{6});
  CHECK_THAT(text, Catch::Contains(up));

  redis.kill();
  auto killed = std::chrono::steady_clock::now();
  const std::string down = "solver_state_backend_up{backend=\"redis\","
                           "shard=\"1\"} 0\n";
  text = metrics_within(c, down, std::chrono::seconds{7});
  auto took = std::chrono::steady_clock::now() - killed;
  INFO(text);
  CHECK_THAT(text, Catch::Contains(down));
  CHECK(took < std::chrono::milliseconds{6500});
  // Closing a store whose server is gone may fail: the exit status is not
  // the point here.
  svc.stop(SIGTERM);
}
