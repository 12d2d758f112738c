// The HTTP port while a large store opens: it answers from the start
// (/healthz 200, /readyz and data routes 503 "recovering", nothing written),
// and the gateway takes the socket over without refusing a connection.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/file_test_support.hpp"
#include "tests/support/http_test_support.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

namespace {

/// Keys in the store: its open (replaying the log of every key) takes
/// about a second on the 2-core test machine, long enough to be seen.
constexpr int keys = 200'000;

std::string request(const std::string& method, const std::string& target) {
  return method + " " + target
         + " HTTP/1.1\r\nHost: t\r\nContent-Length: "
         + (method == "PUT" ? "1\r\n\r\nv" : "0\r\n\r\n");
}

/// A loopback port that was free a moment ago.
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Starts the service with `config` on `port`, its output into `log`.
pid_t start_service(const std::string& config, uint16_t port,
                    const std::string& log) {
  std::vector<std::string> args{SOLVER_STATE_BINARY_DIR "/solver-state",
                                "--config", config, "--listen",
                                "127.0.0.1:" + std::to_string(port)};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  auto rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(),
                        environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

/// Kills the service if the test ends early.
struct reaper {
  pid_t pid = -1;
  ~reaper() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

/// A file store of `keys` keys under `dir`, and the config that opens it.
std::string make_store(const testing::temp_dir& dir) {
  auto base = dir.sub("state");
  {
    auto store = testing::open_store(testing::file_config_for(base, 1));
    REQUIRE(store);
    for (int i = 0; i < keys; ++i)
      REQUIRE(store->put("order:t:" + std::to_string(i), "v"));
    for (auto& s : store->stores)
      REQUIRE_FALSE(s->close());
  }
  auto config = dir.sub("config.yaml");
  std::ofstream{config} << "state:\n  type: file\n  file: {base_path: " << base
                        << "}\nlog: {level: info}\n";
  return config;
}

std::string read_text(const std::string& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// What the server answered `bytes`; "" when nothing listens yet.
std::string ask(uint16_t port, const std::string& bytes) {
  try {
    return testing::raw_exchange(port, bytes, 2s);
  } catch (const std::exception&) {
    return {};
  }
}

unsigned status_of(const std::string& reply) {
  if (reply.rfind("HTTP/1.1 ", 0) != 0 || reply.size() < 12)
    return 0;
  return static_cast<unsigned>(std::stoul(reply.substr(9, 3)));
}

} // namespace

TEST_CASE("while a large store opens the port answers 503 recovering, then "
          "the gateway takes over without a refused connection") {
  testing::temp_dir dir;
  auto config = make_store(dir);
  auto port = free_port();
  auto log = dir.sub("service.log");
  reaper service{start_service(config, port, log)};
  REQUIRE(service.pid > 0);
  size_t recovering = 0, refused_after_first = 0, answered = 0;
  bool put_refused = false, alive = false, ready = false;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    auto reply = ask(port, request("GET", "/readyz"));
    auto status = status_of(reply);
    if (status == 0) {
      if (answered > 0)
        ++refused_after_first;
      std::this_thread::sleep_for(1ms);
      continue;
    }
    ++answered;
    if (status == 200) {
      ready = true;
      break;
    }
    REQUIRE(status == 503);
    CHECK(reply.find("backend_unavailable") != std::string::npos);
    CHECK(reply.find("recovering") != std::string::npos);
    CHECK(reply.find("Retry-After: 1") != std::string::npos);
    // The headers every answer carries, these included.
    CHECK(reply.find("\r\nServer: solver-state\r\n") != std::string::npos);
    CHECK(reply.find("\r\nDate: ") != std::string::npos);
    CHECK(reply.find("\r\nX-Request-Id: ") != std::string::npos);
    ++recovering;
    if (!put_refused) {
      auto put = ask(port, request("PUT", "/v1/state/order:t:during"));
      // The store may have opened in between: then the write is served.
      if (status_of(put) == 503) {
        CHECK(put.find("recovering") != std::string::npos);
        put_refused = true;
      }
      auto health = ask(port, request("GET", "/healthz"));
      auto probe = ask(port, request("HEAD", "/healthz"));
      // HEAD: the same answer without its body (the reply ends after the
      // headers).
      alive = alive
              || (status_of(health) == 200 && status_of(probe) == 200
                  && probe.size() >= 4
                  && probe.compare(probe.size() - 4, 4, "\r\n\r\n") == 0);
    }
  }
  INFO(read_text(log));
  std::cout << "startup: " << recovering
            << " answers of 503 recovering before ready, "
            << refused_after_first << " refused after the first answer\n";
  REQUIRE(ready);
  CHECK(recovering > 0);
  CHECK(put_refused);
  CHECK(alive);
  CHECK(refused_after_first == 0);
  CHECK(read_text(log).find("answering 503 recovering")
        != std::string::npos);
  // The store opened whole; what was refused during recovery is not there.
  testing::http_client client{port};
  CHECK(client.get("/v1/state/order:t:" + std::to_string(keys - 1)).status
        == 200);
  CHECK(client.get("/v1/state/order:t:during").status == 404);
  ::kill(service.pid, SIGTERM);
  int status = 0;
  ::waitpid(std::exchange(service.pid, -1), &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a stop signal while the store opens ends the process at once, "
          "and the next start finds every key") {
  testing::temp_dir dir;
  auto config = make_store(dir);
  auto port = free_port();
  auto log = dir.sub("service.log");
  reaper service{start_service(config, port, log)};
  REQUIRE(service.pid > 0);
  // Once the port answers "recovering", the store is opening.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  unsigned status = 0;
  while (status != 503 && std::chrono::steady_clock::now() < deadline) {
    status = status_of(ask(port, request("GET", "/readyz")));
    if (status == 0)
      std::this_thread::sleep_for(1ms);
  }
  INFO(read_text(log));
  REQUIRE(status == 503);
  auto sent = std::chrono::steady_clock::now();
  ::kill(service.pid, SIGTERM);
  int exit_status = 0;
  ::waitpid(std::exchange(service.pid, -1), &exit_status, 0);
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - sent;
  std::cout << "startup: SIGTERM while opening -> exit in " << took.count()
            << " s\n";
  CHECK(WIFEXITED(exit_status));
  CHECK(WEXITSTATUS(exit_status) == 0);
  auto text = read_text(log);
  CHECK(text.find("received SIGTERM while the store opens") != std::string::npos);
  // It did not wait for the open.
  CHECK(text.find("file backend: opened") == std::string::npos);
  // Stopped mid-open, the store is whole at the next start.
  auto again = dir.sub("again.log");
  reaper restarted{start_service(config, port, again)};
  REQUIRE(restarted.pid > 0);
  deadline = std::chrono::steady_clock::now() + 60s;
  while (status_of(ask(port, request("GET", "/readyz"))) != 200
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  testing::http_client client{port};
  CHECK(client.get("/v1/state/order:t:0").status == 200);
  CHECK(client.get("/v1/state/order:t:" + std::to_string(keys - 1)).status
        == 200);
  ::kill(restarted.pid, SIGTERM);
  ::waitpid(std::exchange(restarted.pid, -1), &exit_status, 0);
  CHECK(WIFEXITED(exit_status));
}

TEST_CASE("idle connections cannot keep a probe waiting while a large "
          "store opens (the newest displaces the oldest idle one)") {
  testing::temp_dir dir;
  auto config = make_store(dir);
  auto port = free_port();
  auto log = dir.sub("service.log");
  reaper service{start_service(config, port, log)};
  REQUIRE(service.pid > 0);
  // The gate answers: the store is opening.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string first;
  while (status_of(first) == 0 && std::chrono::steady_clock::now() < deadline)
    first = ask(port, request("GET", "/readyz"));
  REQUIRE(status_of(first) == 503);
  // More idle connections than the gate answers at once (64): without
  // displacement they hold every slot for its read timeout (2 s), longer
  // than this store takes to open, and the probe is answered only by the
  // gateway once the store is open.
  std::vector<std::unique_ptr<testing::raw_socket>> idle;
  for (int i = 0; i < 80; ++i)
    idle.push_back(std::make_unique<testing::raw_socket>(port));
  auto asked = std::chrono::steady_clock::now();
  auto probe = ask(port, request("GET", "/readyz"));
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - asked;
  INFO("answered in " << took.count() << " s: " << probe.substr(0, 12));
  CHECK(status_of(probe) == 503);
  CHECK(probe.find("recovering") != std::string::npos);
  // At once, not once the idle ones' 2 s are over (a liveness bound, with
  // room for a slow machine).
  CHECK(took < 1.5s);
  // The oldest idle connection was closed to make room, unanswered.
  CHECK(idle.front()->receive(1s).empty());
  CHECK(idle.front()->closed_by_peer(100ms));
  idle.clear();
  // The store opens and is served as before.
  std::string ready;
  while (status_of(ready) != 200
         && std::chrono::steady_clock::now() < deadline) {
    ready = ask(port, request("GET", "/readyz"));
    if (status_of(ready) != 200)
      std::this_thread::sleep_for(10ms);
  }
  CHECK(status_of(ready) == 200);
}
