#pragma once

// The metric values themselves, kept by the metrics actor, and their
// rendering as Prometheus text format 0.0.4. A plain class so it can be tested
// without actors.

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "messages/metrics.hpp"

namespace solver_state {

class metrics_registry {
public:
  void add(const shard_report& report);
  void add(const http_report& report);

  /// The exposition text, ending with a newline.
  std::string render() const;

private:
  struct histogram {
    std::vector<uint64_t> buckets = std::vector<uint64_t>(bucket_count);
    double sum = 0;
  };

  // (op, backend, result) -> count
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> ops_;
  // (op, backend) -> histogram
  std::map<std::pair<std::string, std::string>, histogram> durations_;
  // (backend, shard) -> sizes
  std::map<std::pair<std::string, uint32_t>, std::pair<uint64_t, uint64_t>>
    sizes_;
  // (route, method, status) -> count
  std::map<std::tuple<std::string, std::string, uint16_t>, uint64_t> http_;
};

} // namespace solver_state
