#pragma once

// What shards and the HTTP gateway report to the metrics actor. Reports are
// batched deltas sent fire-and-forget on a timer, never on a reply path.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/engine_stats.hpp"
#include "messages/errors.hpp"

namespace solver_state {

/// Operations counted by state_operations_total{op=...}.
enum class op_kind : uint8_t {
  get,
  set,
  del,
  list,
  batch_get,
  transaction,
  query,
  /// One shard's part of a delete by prefix (one store call of it).
  delete_prefix,
  count_
};

constexpr size_t op_kind_count = static_cast<size_t>(op_kind::count_);

const char* to_string(op_kind op);

/// Upper bounds (seconds) of state_operation_duration_seconds and
/// solver_state_wal_sync_seconds buckets; +Inf is implied. A slow disk or
/// network backend answers in tens of milliseconds, and the alerts' 50 ms
/// p99 (docs/alerts.yaml) must fall on a bound: histogram_quantile
/// interpolates linearly inside a bucket, so with nothing between 10 and
/// 100 ms a few 11 ms writes read as a p99 of 70 ms and paged.
constexpr std::array<double, 17> duration_bounds{
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
  0.0005,   0.001,   0.0025,   0.005,   0.01,   0.025,
  0.05,     0.1,     0.25,     0.5,     1};

constexpr size_t bucket_count = duration_bounds.size() + 1;

/// One shard's counters since its last report, plus its absolute sizes.
/// `results[op][code]` counts results by state_errc (0 = ok).
struct shard_report {
  uint32_t shard = 0;
  std::string backend;
  uint64_t keys = 0;
  uint64_t bytes = 0;
  std::vector<uint64_t> results;   // op_kind_count * result_code_count
  std::vector<uint64_t> buckets;   // op_kind_count * bucket_count
  std::vector<double> seconds_sum; // op_kind_count
  /// The shard's last health check (state_store::health_check) passed.
  bool backend_up = true;
  /// Values of this shard in quarantine (store_stats::quarantined).
  uint64_t quarantined = 0;
  /// store_stats::reencrypt_pending and store_stats::undecryptable.
  uint64_t reencrypt_pending = 0;
  uint64_t undecryptable = 0;
  /// store_stats::log_syncs: cumulative since the shard's backend opened,
  /// not since the last report.
  log_sync_stats log_syncs;
  /// Keys in the shard's declared indexes, and 1 while the shard still
  /// builds them (queries answer backend_unavailable until then).
  uint64_t indexed_keys = 0;
  uint64_t index_building = 0;
  /// store_stats::fold and compaction, as the backend last said.
  fold_stats fold;
  compaction_stats compaction;
};

/// Number of result codes tracked per op: one per state_errc.
constexpr size_t result_code_count = state_errc_count;

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_report& x) {
  return f(caf::meta::type_name("solver_state::shard_report"), x.shard,
           x.backend, x.keys, x.bytes, x.results, x.buckets, x.seconds_sum,
           x.backend_up, x.quarantined, x.reencrypt_pending, x.undecryptable,
           x.log_syncs, x.indexed_keys, x.index_building, x.fold,
           x.compaction);
}

/// HTTP request counts since the last report, by route, method and status.
struct http_count {
  std::string route;
  std::string method;
  uint16_t status = 0;
  uint64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_count& x) {
  return f(caf::meta::type_name("solver_state::http_count"), x.route, x.method,
           x.status, x.count);
}

/// Upper bounds (seconds) of solver_state_http_request_duration_seconds
/// buckets, from a cached read to a request near http.request_timeout; +Inf
/// is implied.
constexpr std::array<double, 14> http_duration_bounds{
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
  0.1,    0.25,  0.5,    1,     2.5,  5,     10};

constexpr size_t http_bucket_count = http_duration_bounds.size() + 1;

/// Request durations since the last report for one route and method, from
/// the request's header arriving to its response being handed to the
/// connection. `buckets` are per bucket (not cumulative), http_bucket_count
/// of them.
struct http_duration {
  std::string route;
  std::string method;
  std::vector<uint64_t> buckets;
  double seconds_sum = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_duration& x) {
  return f(caf::meta::type_name("solver_state::http_duration"), x.route,
           x.method, x.buckets, x.seconds_sum);
}

/// Why the gateway turned a connection away for lack of room, for
/// solver_state_http_refused_connections_total{reason}.
enum class refusal_reason : uint8_t {
  /// A new connection answered 503: every connection was in a request.
  max_connections,
  /// A waiting connection answered 503: the process was out of descriptors.
  descriptors,
  /// An idle connection (no request begun) closed, unanswered, to admit a
  /// new one at http.max_connections.
  evicted_idle,
  count_
};

constexpr size_t refusal_reason_count
  = static_cast<size_t>(refusal_reason::count_);

const char* to_string(refusal_reason reason);

struct http_report {
  std::vector<http_count> counts;
  std::vector<http_duration> durations{};
  /// Gauges at the time of the report: open connections, and the bytes of
  /// answers they hold until their clients have read them.
  uint64_t connections = 0;
  uint64_t pending_reply_bytes = 0;
  /// Store calls with an answer awaited (http.max_in_flight bounds them),
  /// and calls cancelled at their deadline whose slot still waits for the
  /// store's late reply: a count that stays up names a store that stopped
  /// answering.
  uint64_t calls_in_flight = 0;
  uint64_t calls_abandoned = 0;
  /// Connections turned away since the last report, by refusal_reason
  /// (refusal_reason_count entries, or none when there were none).
  std::vector<uint64_t> refused_connections{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_report& x) {
  return f(caf::meta::type_name("solver_state::http_report"), x.counts,
           x.durations, x.connections, x.pending_reply_bytes,
           x.calls_in_flight, x.calls_abandoned, x.refused_connections);
}

/// A cluster peer's connection state and counters, for /metrics.
struct peer_stats {
  std::string peer;
  bool up = false;
  uint64_t connects = 0;
  uint64_t in_flight = 0;
  uint64_t queued = 0;
  /// Requests answered, by state_errc (0 = ok); "no answer" and "not
  /// connected" count as backend_unavailable.
  std::vector<uint64_t> results;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_stats& x) {
  return f(caf::meta::type_name("solver_state::peer_stats"), x.peer, x.up,
           x.connects, x.in_flight, x.queued, x.results);
}

} // namespace solver_state
