#pragma once

// A --json document whose one list is printed element by element, as the
// pages of a listing or the replies of a batch-get arrive: the client holds
// one answer at a time, never the whole result.

#include <string>

#include "cli/failure.hpp"

namespace solver_state::cli {

/// Prints {"<member>":[e, e, ...]} to stdout. A failure part-way closes the
/// list and adds "error":{"code","message"}, so stdout still holds one whole
/// document. Disabled (human output), it prints nothing itself.
class streamed_json_list {
public:
  streamed_json_list(bool enabled, const char* member);

  /// Appends one element, already serialized.
  maybe_failure add(const std::string& serialized);

  /// Closes the document and reports `f` (if any) on stderr; returns the
  /// exit code.
  int finish(const maybe_failure& f);

private:
  bool enabled_;
  bool first_ = true;
};

} // namespace solver_state::cli
