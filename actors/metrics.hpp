#pragma once

// The METRICS actor: adds up what shards and the HTTP gateway report and
// renders it in the Prometheus text format (prometheus-cpp is not packaged on
// Debian 12; the format is small and promtool checks it in the tests).

#include <cstddef>
#include <cstdint>
#include <string>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

/// `max_items` is the store's key cap (state.max_items, 0 = none), shown as
/// the solver_state_max_items gauge; the fill against it is judged once all
/// `shard_count` shards have reported.
metrics_actor spawn_metrics(caf::actor_system& sys, uint64_t max_items = 0,
                            size_t shard_count = 1);

} // namespace solver_state
