// Signals to the running service: SIGHUP reopens log.file, re-reads
// log.level and never stops it; SIGTERM stops it cleanly.

#include <chrono>
#include <cstdio>
#include <iterator>
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
  REQUIRE(client.put("/v1/state/state:t:k", "v").status == 201);
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

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Waits up to 5 s for `text` to appear in the file at `path`.
bool file_shows(const std::string& path, const std::string& text) {
  for (int i = 0; i < 500; ++i) {
    if (read_file(path).find(text) != std::string::npos)
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

} // namespace

TEST_CASE("with log.file, SIGHUP reopens the file that logrotate moved") {
  // Relative to the service's working directory, which is where the
  // fixture reads the service's output: the start-up line lands there.
  service_process svc{"state:\n  type: memory\nlog:\n  level: info\n"
                      "  file: service.log\n"};
  auto config = svc.config_path();
  auto log = config.substr(0, config.rfind('/')) + "/service.log";
  REQUIRE(file_shows(log, "solver-state starting"));
  // What logrotate does: move the file away, then SIGHUP.
  REQUIRE(std::rename(log.c_str(), (log + ".1").c_str()) == 0);
  svc.signal(SIGHUP);
  REQUIRE(file_shows(log, "SIGHUP: reopened the log file"));
  REQUIRE(svc.running());
  CHECK(read_file(log + ".1").find("SIGHUP") == std::string::npos);
  CHECK(svc.stop(SIGTERM) == 0);
  CHECK(file_shows(log, "solver-state stopped"));
}
