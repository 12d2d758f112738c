#pragma once

// A dynalite server (a DynamoDB-compatible server on Node.js) for tests: on a
// free loopback port, with its LevelDB in a temp dir so that a restart keeps
// the data, as a real outage would. Stop it with kill() to simulate a crash
// and start() it again on the same port. Needs scripts/install-dynalite.sh;
// without it the constructor throws a message that says so.

#include <cstdint>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace solver_state::testing {

class dynalite_server {
public:
  /// Starts the server; throws std::runtime_error when it cannot.
  dynalite_server();
  ~dynalite_server();

  dynalite_server(const dynalite_server&) = delete;
  dynalite_server& operator=(const dynalite_server&) = delete;

  /// Starts the server again on the same port (after kill()).
  void start();

  /// SIGKILLs the server and waits for it: connections drop mid-request.
  void kill();

  /// SIGSTOPs the server: it keeps accepting connections (the kernel does)
  /// but never answers, like a hung host. resume() sends SIGCONT.
  void pause();
  void resume();

  bool running() const { return pid_ > 0; }

  uint16_t port() const { return port_; }

  /// state.type for a table of this server.
  std::string url(std::string_view table) const;

private:
  /// One attempt to start on port_; false when it exits early.
  bool try_start();

  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

} // namespace solver_state::testing
