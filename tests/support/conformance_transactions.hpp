#pragma once

// The transaction half of the conformance suite (conformance.hpp): all or
// nothing on every backend, in the store itself and through the actors.

#include "tests/support/conformance.hpp"

namespace solver_state::testing {

/// Runs the transaction checks as SECTIONs of the caller's TEST_CASE.
void run_transaction_conformance(const conformance_target& target);

} // namespace solver_state::testing
