// Signals to the running service: SIGHUP re-reads log.level and never stops
// it; SIGTERM stops it cleanly.

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

/// Waits up to 5 s for `text` to appear in the service's log.
bool log_shows(service_process& svc, const std::string& text) {
  for (int i = 0; i < 500; ++i) {
    if (svc.log().find(text) != std::string::npos)
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

} // namespace

TEST_CASE("SIGHUP re-reads log.level, logs it and keeps serving") {
  service_process svc{"state:\n  type: memory\nlog:\n  level: info\n"};
  http_client client{svc.port()};
  REQUIRE(client.put("/v1/state/state:t:k", "v").status == 204);
  CHECK(svc.log().find("http: access") == std::string::npos);

  std::ofstream{svc.config_path()}
    << "state:\n  type: memory\nlog:\n  level: debug\n";
  svc.signal(SIGHUP);
  REQUIRE(log_shows(svc, "SIGHUP: re-read"));
  REQUIRE(svc.running());
  // Debug level logs one access line per request: the new level is in force.
  CHECK(client.get("/v1/state/state:t:k").status == 200);
  CHECK(log_shows(svc, "http: access"));

  // A config that no longer parses changes nothing and stops nothing.
  std::ofstream{svc.config_path()} << "log: [broken\n";
  svc.signal(SIGHUP);
  REQUIRE(log_shows(svc, "not re-read, nothing changed"));
  REQUIRE(svc.running());
  CHECK(client.get("/healthz").status == 200);
  CHECK(svc.stop(SIGTERM) == 0);
}
