// Per route/method/status request counters and per route/method duration
// histograms (relaxed atomics), drained once a second into an http_report
// for the metrics actor.

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

void request_stats::observe(route_id route, method_id method,
                            std::chrono::nanoseconds elapsed) {
  auto base = (static_cast<size_t>(route) * method_count
               + static_cast<size_t>(method))
              * duration_stride;
  auto seconds = std::chrono::duration<double>(elapsed).count();
  size_t b = 0;
  while (b < http_duration_bounds.size() && seconds > http_duration_bounds[b])
    ++b;
  durations_[base + b].fetch_add(1, std::memory_order_relaxed);
  auto ns = elapsed.count() > 0 ? static_cast<uint64_t>(elapsed.count()) : 0;
  durations_[base + http_bucket_count].fetch_add(ns,
                                                 std::memory_order_relaxed);
}

void request_stats::refused(refusal_reason reason) {
  refused_[static_cast<size_t>(reason)].fetch_add(1,
                                                  std::memory_order_relaxed);
}

http_report request_stats::take() {
  http_report out;
  for (size_t r = 0; r < refusal_reason_count; ++r) {
    if (refused_[r].load(std::memory_order_relaxed) == 0)
      continue;
    out.refused_connections.resize(refusal_reason_count);
    out.refused_connections[r] = refused_[r].exchange(
      0, std::memory_order_relaxed);
  }
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
  for (size_t r = 0; r < route_count; ++r)
    for (size_t m = 0; m < method_count; ++m) {
      auto base = (r * method_count + m) * duration_stride;
      http_duration d;
      d.buckets.resize(http_bucket_count);
      uint64_t observed = 0;
      for (size_t b = 0; b < http_bucket_count; ++b) {
        if (durations_[base + b].load(std::memory_order_relaxed) == 0)
          continue;
        d.buckets[b] = durations_[base + b].exchange(0,
                                                     std::memory_order_relaxed);
        observed += d.buckets[b];
      }
      // The sum may run a request ahead of or behind the buckets when a
      // request is observed while we drain; the next report evens it out.
      auto ns = durations_[base + http_bucket_count].exchange(
        0, std::memory_order_relaxed);
      d.seconds_sum = static_cast<double>(ns) / 1e9;
      if (observed == 0 && ns == 0)
        continue;
      d.route = label_of(static_cast<route_id>(r));
      d.method = label_of(static_cast<method_id>(m));
      out.durations.push_back(std::move(d));
    }
  return out;
}

} // namespace solver_state::gateway
