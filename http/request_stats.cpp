// Per route/method/status request counters (relaxed atomics), drained once
// a second into an http_report for the metrics actor.

#include "http/request_stats.hpp"

namespace solver_state::gateway {

size_t request_stats::status_index(unsigned status) {
  for (size_t i = 0; i + 1 < statuses.size(); ++i)
    if (statuses[i] == status)
      return i;
  return statuses.size() - 1; // status 0: "other", should never be used
}

void request_stats::count(route_id route, method_id method, unsigned status) {
  auto i = (static_cast<size_t>(route) * method_count
            + static_cast<size_t>(method))
             * statuses.size()
           + status_index(status);
  counts_[i].fetch_add(1, std::memory_order_relaxed);
}

http_report request_stats::take() {
  http_report out;
  for (size_t r = 0; r < route_count; ++r)
    for (size_t m = 0; m < method_count; ++m)
      for (size_t s = 0; s < statuses.size(); ++s) {
        auto i = (r * method_count + m) * statuses.size() + s;
        if (counts_[i].load(std::memory_order_relaxed) == 0)
          continue;
        auto n = counts_[i].exchange(0, std::memory_order_relaxed);
        if (n != 0)
          out.counts.push_back({label_of(static_cast<route_id>(r)),
                                label_of(static_cast<method_id>(m)),
                                statuses[s], n});
      }
  return out;
}

} // namespace solver_state::gateway
