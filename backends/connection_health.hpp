#pragma once

// What a blocking network connection (Redis, PostgreSQL) keeps between
// attempts: whom it talks to, why it last failed and when it may try again.
// Every failure reads the same to a caller: backend_unavailable naming the
// server and the reason, also while the next reconnect is not yet due.

#include <string>

#include <caf/error.hpp>

#include "backends/reconnect_backoff.hpp"
#include "messages/errors.hpp"

namespace solver_state {

class connection_health {
public:
  /// `server` names the other end in messages, e.g. "redis 10.0.0.5:6379".
  explicit connection_health(std::string server) : server_(std::move(server)) {}

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
    return unavailable(why);
  }

  /// A connection was made: the next failure retries soon again.
  void connected() { backoff_.succeeded(); }

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
};

} // namespace solver_state
