#pragma once

// The METRICS actor: adds up what shards and the HTTP gateway report and
// renders it in the Prometheus text format (prometheus-cpp is not packaged on
// Debian 12; the format is small and promtool checks it in the tests).

#include <string>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

metrics_actor spawn_metrics(caf::actor_system& sys);

} // namespace solver_state
