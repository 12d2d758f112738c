#pragma once

// The answer to health_atom: what a store that can serve still wants its
// operator to know. A store that cannot serve answers an error instead
// (backend_unavailable, saying why: a backend down, a disk full).

#include <cstdint>

#include <caf/meta/type_name.hpp>

namespace solver_state {

struct health_report {
  /// Values that failed their checks and were moved into quarantine (file
  /// backend): their keys answer backend_error until written or deleted.
  uint64_t quarantined_values = 0;
  /// Values encrypted under a key that is not configured: their keys answer
  /// backend_error until written or deleted (or the key is listed again).
  uint64_t undecryptable_values = 0;

  /// Adds another owner's report (a store of several shards or nodes).
  health_report& operator+=(const health_report& other) {
    quarantined_values += other.quarantined_values;
    undecryptable_values += other.undecryptable_values;
    return *this;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_report& x) {
  return f(caf::meta::type_name("solver_state::health_report"),
           x.quarantined_values, x.undecryptable_values);
}

} // namespace solver_state
