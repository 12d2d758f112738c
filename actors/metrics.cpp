// The metrics actor: folds shard and HTTP gateway reports into a
// metrics_registry and renders its Prometheus text for GET /metrics.

#include "actors/metrics.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/metrics_registry.hpp"

namespace solver_state {

namespace {

struct metrics_state {
  static inline const char* name = "solver-state.metrics";
  metrics_registry registry;
};

metrics_actor::behavior_type
metrics(metrics_actor::stateful_pointer<metrics_state> self,
        metrics_registry initial) {
  self->state.registry = std::move(initial);
  return {
    [=](report_atom, const shard_report& r) {
      auto& registry = self->state.registry;
      registry.add(r);
      auto note = registry.capacity_change();
      if (note.text.empty())
        return;
      if (note.warn)
        spdlog::warn("{}", note.text);
      else
        spdlog::info("{}", note.text);
    },
    [=](report_atom, const http_report& r) { self->state.registry.add(r); },
    [=](report_atom, const watch_report& r) { self->state.registry.add(r); },
    [=](render_atom) { return self->state.registry.render(); },
  };
}

} // namespace

metrics_actor spawn_metrics(caf::actor_system& sys, uint64_t max_items,
                            size_t shard_count) {
  // Spawned with an argument: CAF 0.17's init_fun_factory dereferences a null
  // argument tuple for a function that takes only `self`, which UBSan stops.
  metrics_registry initial;
  initial.set_max_items(max_items);
  initial.set_shard_count(shard_count);
  return sys.spawn(metrics, std::move(initial));
}

} // namespace solver_state
