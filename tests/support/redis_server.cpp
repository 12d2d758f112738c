// Test fixture that runs a throwaway redis-server on a free loopback port,
// with optional password, kill/pause/restart, flush and redis-cli.

#include "tests/support/redis_server.hpp"

#include <signal.h>

#include <stdexcept>

namespace solver_state::testing {

redis_server::redis_server(std::string password)
  : password_(std::move(password)) {
  cleanup_after_exit("kill -9 $(cat " + dir_.path() + "/redis.pid) 2>/dev/null;"
                     " rm -rf " + dir_.path());
  // The port was free when picked; another process may take it before the
  // server binds, so try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_loopback_port();
    if (start())
      return;
  }
  throw std::runtime_error("redis-server did not start: "
                           + read_text(dir_.path() + "/redis.log"));
}

redis_server::~redis_server() {
  process_.stop(SIGKILL);
}

bool redis_server::start() {
  auto port = std::to_string(port_);
  std::vector<std::string> argv{
    "redis-server", "--port",    port,        "--bind",
    "127.0.0.1",    "--save",    "",          "--appendonly",
    "no",           "--dir",     dir_.path(), "--protected-mode",
    "yes",          "--pidfile", dir_.path() + "/redis.pid"};
  if (!password_.empty()) {
    argv.push_back("--requirepass");
    argv.push_back(password_);
  }
  if (!process_.start(argv, dir_.path() + "/redis.log"))
    return false;
  if (wait_until([&] { return cli({"PING"}) == 0; },
                 std::chrono::seconds{10}))
    return true;
  process_.stop(SIGKILL);
  return false;
}

std::string redis_server::url(const std::string& prefix) const {
  auto auth = password_.empty() ? std::string{} : ":" + password_ + "@";
  auto out = "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/0";
  if (!prefix.empty())
    out += "?prefix=" + prefix;
  return out;
}

void redis_server::kill() {
  process_.stop(SIGKILL);
}

void redis_server::restart() {
  if (!start())
    throw std::runtime_error("redis-server did not restart on port "
                             + std::to_string(port_));
}

void redis_server::flush() {
  if (cli({"FLUSHALL"}) != 0)
    throw std::runtime_error("redis-cli FLUSHALL failed");
}

int redis_server::cli(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"redis-cli", "-h", "127.0.0.1", "-p",
                                std::to_string(port_)};
  if (!password_.empty()) {
    argv.push_back("--no-auth-warning");
    argv.push_back("-a");
    argv.push_back(password_);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

redis_server& shared_redis() {
  static redis_server server;
  return server;
}

} // namespace solver_state::testing
