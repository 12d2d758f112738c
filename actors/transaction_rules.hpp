#pragma once

// What makes a transaction_request acceptable before any store sees it:
// the same rules for the router that splits it and the shard that runs it.

#include <cstddef>

#include <caf/error.hpp>

#include "messages/transaction.hpp"

namespace solver_state {

struct transaction_limits {
  /// Operations per transaction (http.max_batch_keys).
  size_t max_ops = 1'000;
  /// One value (state.max_value_bytes).
  size_t max_value_bytes = 16u << 20;
  /// All values together: what one log record or one backend round trip
  /// carries (http.max_reply_bytes).
  size_t max_total_bytes = 16u << 20;
};

/// Empty when `req` may run: at least one and at most max_ops operations,
/// each a set or a delete of a valid key named once, TTLs not negative,
/// values within the limits. Otherwise bad_request, invalid_key or
/// payload_too_large saying which operation is wrong.
caf::error transaction_problem(const transaction_request& req,
                               const transaction_limits& limits);

} // namespace solver_state
