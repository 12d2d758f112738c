// The gateway against the descriptor limit (RLIMIT_NOFILE): a client that
// comes while the process is out of descriptors is answered, not left in the
// backlog, and the log says so once, not once per accept; a limit below
// http.max_connections lowers it at start, with a warning.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

/// Lines of `text` that contain `what`.
size_t lines_with(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size()))
    ++n;
  return n;
}

/// This test process's soft descriptor limit, set for a scope.
class soft_nofile {
public:
  explicit soft_nofile(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lim = saved_;
    lim.rlim_cur = std::min(soft, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  ~soft_nofile() {
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  rlim_t hard() const {
    return saved_.rlim_max;
  }

private:
  rlimit saved_{};
};

} // namespace

TEST_CASE("out of descriptors, a new request is answered within 2 s and "
          "the log says so once, not once per accept") {
  // The test holds 400 connections of its own.
  soft_nofile room{RLIM_INFINITY};
  REQUIRE(room.hard() >= 1024);
  service_process svc{"state:\n  type: memory\n"};
  // Lowered after start, so the gateway's max_connections (10000) is not:
  // accept() itself runs out.
  rlimit lim{256, 256};
  REQUIRE(::prlimit(svc.pid(), RLIMIT_NOFILE, &lim, nullptr) == 0);

  std::vector<std::unique_ptr<raw_socket>> idle;
  for (int i = 0; i < 400; ++i)
    idle.push_back(std::make_unique<raw_socket>(svc.port()));

  // Past the limit the connections wait in the backlog unless the server
  // sheds them: the new one must get an answer (503 or 200), not silence.
  raw_socket next{svc.port()};
  next.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto answer = next.receive(2s);
  INFO(answer);
  bool served = answer.rfind("HTTP/1.1 200 ", 0) == 0;
  bool shed = answer.rfind("HTTP/1.1 503 ", 0) == 0;
  CHECK((served || shed));
  if (shed)
    CHECK(error_code_of(answer) == "backend_unavailable");

  // Half a second more of the same: still one warning, no error per try.
  std::this_thread::sleep_for(500ms);
  auto log = svc.log();
  INFO(log);
  CHECK(lines_with(log, "out of file descriptors") <= 2);
  CHECK(lines_with(log, "accept failed") <= 1);

  // Room again: connections close and the server serves as before.
  idle.clear();
  http_client after{svc.port()};
  CHECK(after.get("/healthz").status == 200);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("at start the soft descriptor limit is raised to the hard one, and "
          "http.max_connections past what it allows is lowered with a warning") {
  std::string log;
  rlim_t hard = 0;
  {
    // The service inherits a soft limit of 256 and the test's hard limit.
    soft_nofile low{256};
    hard = low.hard();
    service_process svc{"state:\n  type: memory\n"
                        "http:\n  max_connections: 1000000\n"};
    http_client c{svc.port()};
    CHECK(c.get("/healthz").status == 200);
    log = svc.log();
    CHECK(svc.stop(SIGTERM) == 0);
  }
  INFO(log);
  if (hard > 256)
    CHECK(log.find("raised the soft RLIMIT_NOFILE from 256 to "
                   + std::to_string(hard))
          != std::string::npos);
  // 64 and an eighth of the limit stay for the store's own descriptors.
  auto room = hard - (64 + hard / 8);
  if (hard != RLIM_INFINITY && room < 1000000)
    CHECK(log.find("http.max_connections=1000000 does not fit RLIMIT_NOFILE="
                   + std::to_string(hard) + " (the store needs descriptors "
                   "too): serving at most " + std::to_string(room))
          != std::string::npos);
}
