#pragma once

// What went wrong, as a value: every step of a command returns one instead of
// throwing, and main turns it into a message and an exit code.

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "cli/exit_codes.hpp"

namespace solver_state::cli {

struct failure {
  exit_code code = exit_server_error;
  /// The service's error code ("version_mismatch"), or one of ours
  /// ("usage", "unreachable", "bad_import_file"); scripts see it in --json.
  std::string error;
  /// For humans, without the program name.
  std::string message;
};

inline failure usage_failure(std::string message) {
  return {exit_usage, "usage", std::move(message)};
}

/// The service answered something this client cannot read.
inline failure odd_answer(const std::string& what) {
  return {exit_server_error, "bad_answer",
          "the service's answer is not what this client expects: " + what};
}

/// A value or the failure that prevented it.
template <class T>
class expected {
public:
  expected(T value) : state_(std::move(value)) {
  }
  expected(failure f) : state_(std::move(f)) {
  }

  explicit operator bool() const {
    return std::holds_alternative<T>(state_);
  }
  T& operator*() {
    return std::get<T>(state_);
  }
  const T& operator*() const {
    return std::get<T>(state_);
  }
  T* operator->() {
    return &std::get<T>(state_);
  }
  const T* operator->() const {
    return &std::get<T>(state_);
  }
  const failure& error() const {
    return std::get<failure>(state_);
  }

private:
  std::variant<T, failure> state_;
};

/// Empty when a step worked.
using maybe_failure = std::optional<failure>;

} // namespace solver_state::cli
