// The metrics actor: folds shard and HTTP gateway reports into a
// metrics_registry and renders its Prometheus text for GET /metrics.

#include "actors/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/metrics_registry.hpp"

namespace solver_state {

namespace {

struct metrics_state {
  static inline const char* name = "solver-state.metrics";
  metrics_registry registry;
};

metrics_actor::behavior_type
metrics(metrics_actor::stateful_pointer<metrics_state> self) {
  return {
    [=](report_atom, const shard_report& r) { self->state.registry.add(r); },
    [=](report_atom, const http_report& r) { self->state.registry.add(r); },
    [=](render_atom) { return self->state.registry.render(); },
  };
}

} // namespace

metrics_actor spawn_metrics(caf::actor_system& sys) {
  return sys.spawn(metrics);
}

} // namespace solver_state
