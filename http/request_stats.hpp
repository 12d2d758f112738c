#pragma once

// Per route/method/status request counters and per route/method duration
// histograms. Sessions count with relaxed atomic increments; the server
// drains them once a second into an http_report for the metrics actor
// (batched, fire-and-forget, never per request).

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "http/routes.hpp"
#include "messages/metrics.hpp"

namespace solver_state::gateway {

class request_stats {
public:
  void count(route_id route, method_id method, unsigned status);

  /// One request of `route` and `method` took `elapsed`, from its header
  /// arriving to its response being handed to the connection.
  void observe(route_id route, method_id method,
               std::chrono::nanoseconds elapsed);

  /// One connection turned away for lack of room.
  void refused(refusal_reason reason);

  /// The counts since the last take(), resetting them.
  http_report take();

private:
  static constexpr std::array<uint16_t, 18> statuses{
    200, 201, 204, 304, 400, 401, 404, 405, 412, 413, 414, 431, 500, 503, 504,
    507, 100, 0};

  static size_t status_index(unsigned status);

  static constexpr size_t slots = route_count * method_count
                                  * statuses.size();
  std::array<std::atomic<uint64_t>, slots> counts_{};

  // Per (route, method): http_bucket_count buckets, then the sum in ns.
  static constexpr size_t duration_stride = http_bucket_count + 1;
  static constexpr size_t duration_slots = route_count * method_count
                                           * duration_stride;
  std::array<std::atomic<uint64_t>, duration_slots> durations_{};

  std::array<std::atomic<uint64_t>, refusal_reason_count> refused_{};
};

} // namespace solver_state::gateway
