#pragma once

// A replicated Redis for failover tests: a master, `replicas` replicas and
// three Sentinels watching them (quorum 2), each a real redis-server on its
// own free loopback port, in one temp dir; everything killed when
// destroyed. Sentinels notice a dead master after 1 s and promote the
// replica with the most data.

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/server_process.hpp"

namespace solver_state::testing {

class redis_sentinels {
public:
  static constexpr const char* master_name = "solver";

  /// Starts the servers and waits until every Sentinel sees every replica
  /// in sync; throws if they do not come up.
  explicit redis_sentinels(size_t replicas = 1);
  ~redis_sentinels();

  /// redis-sentinel://127.0.0.1:S1,...,127.0.0.1:S3/solver/0, then `query`
  /// ("?prefix=..." or empty).
  std::string url(const std::string& query = {}) const;

  /// The port of the server the Sentinels call master now (0 if they do
  /// not agree on one).
  uint16_t master_port() const;

  /// Points every data server but the one on `master` at a port where
  /// nothing listens: replicas that keep their data and fall behind, as
  /// behind a broken link (the Sentinels correct such a replica only after
  /// several seconds, and still promote it).
  void detach_replicas(uint16_t master);

  /// SIGKILLs the data server on `port` (the master: the failover starts).
  void kill(uint16_t port);

  /// Waits until the Sentinels name a master other than `old_port`; false
  /// after `limit`.
  bool wait_for_new_master(uint16_t old_port,
                           std::chrono::milliseconds limit) const;

  uint16_t sentinel_port(size_t i) const { return sentinels_.at(i)->port; }

  /// Runs redis-cli against `port`; its output.
  std::string cli(uint16_t port, const std::vector<std::string>& args) const;

private:
  struct server {
    uint16_t port = 0;
    child_process process;
  };
  void start_data_server(server& s, uint16_t master_port);
  void start_sentinel(server& s, uint16_t master_port, size_t index);
  bool all_in_sync(size_t replicas) const;

  temp_dir dir_{"sentinels"};
  std::vector<std::unique_ptr<server>> data_;     // [0] the first master
  std::vector<std::unique_ptr<server>> sentinels_;
};

} // namespace solver_state::testing
