#pragma once

// Shard reports for tests of the metrics actor and registry.

#include <cstdint>

#include "messages/metrics.hpp"

namespace solver_state::testing {

/// A report of shard `shard` holding `keys` keys (10 bytes each) and no
/// operation yet: every counter there, at zero, for a test to fill in.
inline shard_report empty_report(uint32_t shard, uint64_t keys) {
  shard_report r;
  r.shard = shard;
  r.backend = "memory";
  r.keys = keys;
  r.bytes = keys * 10;
  r.results.assign(op_kind_count * result_code_count, 0);
  r.buckets.assign(op_kind_count * bucket_count, 0);
  r.seconds_sum.assign(op_kind_count, 0);
  return r;
}

} // namespace solver_state::testing
