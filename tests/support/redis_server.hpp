#pragma once

// A real redis-server for tests and benchmarks: its own free loopback port,
// no persistence, working dir in a temp dir; stopped when destroyed.

#include <signal.h>

#include <cstdint>
#include <memory>
#include <string>

#include "tests/support/server_process.hpp"

namespace solver_state::testing {

class redis_server {
public:
  /// Starts the server; throws if it does not come up. With a `password`,
  /// clients must AUTH (requirepass).
  explicit redis_server(std::string password = {});
  ~redis_server();

  uint16_t port() const { return port_; }

  /// redis://[:PASSWORD@]127.0.0.1:PORT/0, with ?prefix= when given.
  std::string url(const std::string& prefix = {}) const;

  /// Kills the server (SIGKILL: an outage, not a shutdown).
  void kill();

  /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: a hung server.
  void pause() { process_.signal(SIGSTOP); }
  void resume() { process_.signal(SIGCONT); }

  /// Starts it again on the same port (empty: no persistence).
  void restart();

  /// Empties every database.
  void flush();

  /// Runs redis-cli with `args`; its exit status.
  int cli(const std::vector<std::string>& args) const;

private:
  bool start();

  std::string password_;
  temp_dir dir_{"redis"};
  uint16_t port_ = 0;
  child_process process_;
};

/// One server per test binary, started on first use.
redis_server& shared_redis();

} // namespace solver_state::testing
