#pragma once

// What a blocking network connection (Redis, PostgreSQL) keeps between
// attempts: whom it talks to, why it last failed and when it may try again.
// Every failure reads the same to a caller: backend_unavailable naming the
// server and the reason, also while the next reconnect is not yet due.
//
// It also tells the operator, once per change of state: a warning when the
// server goes down (with the reason), an info line when it is back (with how
// long it was down). The failures in between, one per request while it is
// down, are not logged: an outage is one line, not thousands.

#include <chrono>
#include <string>

#include <caf/error.hpp>
#include <spdlog/spdlog.h>

#include "backends/reconnect_backoff.hpp"
#include "messages/errors.hpp"

namespace solver_state {

class connection_health {
public:
  /// `server` names the other end in messages, e.g. "redis 10.0.0.5:6379".
  explicit connection_health(std::string server) : server_(std::move(server)) {}

  /// With a longest pause between reconnects other than the default.
  connection_health(std::string server, reconnect_backoff::duration max_pause)
    : server_(std::move(server)),
      backoff_(reconnect_backoff::duration{50}, max_pause) {}

  /// backend_unavailable: "<server>: <why>".
  caf::error unavailable(const std::string& why) const {
    return make_state_error(state_errc::backend_unavailable,
                            server_ + ": " + why);
  }

  /// The connection failed or could not be made: remember why, wait before
  /// the next attempt, and say so.
  caf::error failed(const std::string& why) {
    last_error_ = why;
    backoff_.failed();
    if (up_) {
      up_ = false;
      down_since_ = std::chrono::steady_clock::now();
      spdlog::warn("{}: down: {}", server_, why);
    }
    return unavailable(why);
  }

  /// A connection was made: the next failure retries soon again.
  void connected() {
    backoff_.succeeded();
    if (!up_) {
      up_ = true;
      std::chrono::duration<double> down =
        std::chrono::steady_clock::now() - down_since_;
      spdlog::info("{}: up again after {:.1f} s down", server_,
                   down.count());
    }
  }

  /// False from a failure until the next connection is made.
  bool up() const { return up_; }

  /// Empty when a connection attempt may be made now; otherwise the last
  /// failure and how long until the next attempt.
  caf::error attempt_allowed() const {
    if (backoff_.due())
      return {};
    return unavailable(last_error_ + " (next reconnect in "
                       + std::to_string(backoff_.remaining().count())
                       + " ms)");
  }

private:
  std::string server_;
  reconnect_backoff backoff_;
  std::string last_error_;
  /// Presumed up until a first failure: a backend that never answers is
  /// reported by its first failure.
  bool up_ = true;
  std::chrono::steady_clock::time_point down_since_;
};

} // namespace solver_state
