// Accumulates shard and HTTP counters and renders them as Prometheus text
// 0.0.4: operations, operation durations, keys/bytes gauges, HTTP requests.

#include "actors/metrics_registry.hpp"

#include <cstdio>

#include "util/prometheus_text.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// Label values are ours (op names, error codes, backend names, routes), but
/// escape anyway so a future label can never break the format.
std::string escape(const std::string& value) {
  return escape_label(value);
}

std::string number(double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

void header(std::string& out, const char* name, const char* help,
            const char* type) {
  append_family_header(out, name, help, type);
}

} // namespace

void metrics_registry::add(const shard_report& r) {
  sizes_[{r.backend, r.shard}] = {r.keys, r.bytes};
  for (size_t o = 0; o < op_kind_count; ++o) {
    auto op = to_string(static_cast<op_kind>(o));
    for (size_t c = 0; c < result_code_count; ++c) {
      auto i = o * result_code_count + c;
      if (i < r.results.size() && r.results[i] > 0) {
        auto result = c == 0 ? "ok" : to_string(static_cast<state_errc>(c));
        ops_[{op, r.backend, result}] += r.results[i];
      }
    }
    uint64_t observed = 0;
    for (size_t b = 0; b < bucket_count; ++b) {
      auto i = o * bucket_count + b;
      if (i < r.buckets.size())
        observed += r.buckets[i];
    }
    if (observed == 0)
      continue;
    auto& h = durations_[{op, r.backend}];
    for (size_t b = 0; b < bucket_count; ++b)
      h.buckets[b] += r.buckets[o * bucket_count + b];
    if (o < r.seconds_sum.size())
      h.sum += r.seconds_sum[o];
  }
}

void metrics_registry::add(const http_report& r) {
  for (auto& c : r.counts)
    http_[{c.route, c.method, c.status}] += c.count;
}

std::string metrics_registry::render() const {
  std::string out;
  header(out, "state_operations_total",
         "Store operations by type, backend and result.", "counter");
  for (auto& [labels, count] : ops_) {
    auto& [op, backend, result] = labels;
    out += "state_operations_total{op=\"" + escape(op) + "\",backend=\""
           + escape(backend) + "\",result=\"" + escape(result) + "\"} "
           + std::to_string(count) + "\n";
  }
  header(out, "state_operation_duration_seconds",
         "Time a shard spent on an operation, backend call included.",
         "histogram");
  for (auto& [labels, h] : durations_) {
    auto common = "op=\"" + escape(labels.first) + "\",backend=\""
                  + escape(labels.second) + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b < bucket_count; ++b) {
      cumulative += h.buckets[b];
      auto le = b < duration_bounds.size() ? number(duration_bounds[b])
                                           : std::string{"+Inf"};
      out += "state_operation_duration_seconds_bucket{" + common + ",le=\""
             + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += "state_operation_duration_seconds_sum{" + common + "} "
           + number(h.sum) + "\n";
    out += "state_operation_duration_seconds_count{" + common + "} "
           + std::to_string(cumulative) + "\n";
  }
  // Sizes are summed over shards per backend.
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_backend;
  for (auto& [labels, sizes] : sizes_) {
    per_backend[labels.first].first += sizes.first;
    per_backend[labels.first].second += sizes.second;
  }
  header(out, "state_keys_total", "Keys stored.", "gauge");
  for (auto& [backend, sizes] : per_backend)
    out += "state_keys_total{backend=\"" + escape(backend) + "\"} "
           + std::to_string(sizes.first) + "\n";
  header(out, "state_size_bytes", "Bytes of keys and values stored.",
         "gauge");
  for (auto& [backend, sizes] : per_backend)
    out += "state_size_bytes{backend=\"" + escape(backend) + "\"} "
           + std::to_string(sizes.second) + "\n";
  header(out, "http_requests_total",
         "HTTP requests by route, method and status.", "counter");
  for (auto& [labels, count] : http_) {
    auto& [route, method, status] = labels;
    out += "http_requests_total{route=\"" + escape(route) + "\",method=\""
           + escape(method) + "\",status=\"" + std::to_string(status)
           + "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

} // namespace solver_state
