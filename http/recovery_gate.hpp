#pragma once

// The HTTP port while the store opens. Opening a large store takes seconds;
// a closed port reads as "connection refused", so probes and clients cannot
// tell a slow start from a dead process. The gate binds http.listen at once
// and answers every request itself, without a store: /healthz 200 (alive),
// /readyz and every other route 503 backend_unavailable "recovering", with
// the seconds spent so far. Once the store is open, hand_over() gives its
// listening socket to the real server (http_server::start), so no
// connection is refused in between: those waiting in the backlog are served
// by the real server.

#include <chrono>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace solver_state {

class recovery_gate {
public:
  recovery_gate();
  ~recovery_gate();

  recovery_gate(const recovery_gate&) = delete;
  recovery_gate& operator=(const recovery_gate&) = delete;

  /// Binds `listen` (host:port, port 0 for any) and starts answering.
  caf::error start(const std::string& listen);

  /// Stops answering and gives up the listening socket (still listening);
  /// the caller owns it. -1 when the gate was not started.
  int hand_over();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace solver_state
