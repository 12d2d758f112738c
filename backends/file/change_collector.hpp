#pragma once

// The newest logged change of each key, per shard, kept on a thread of its
// own while the caller reads and checks the logs. A start after a write load
// replays a million records: reading them (a copy and an allocation per
// value) and keeping each key's newest (a hash lookup, a cache miss) cost
// about as much as each other, and on two cores they overlap
// (bench/README.md, "A start after a write load").

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/file/recovery.hpp"
#include "backends/file/wal.hpp"

namespace solver_state {

class change_collector {
public:
  explicit change_collector(size_t shard_count);
  /// Stops the thread, dropping what it has not kept yet.
  ~change_collector();

  change_collector(const change_collector&) = delete;
  change_collector& operator=(const change_collector&) = delete;

  /// Hands over a record whose key is valid. Waits while max_batches
  /// batches wait for the thread: the records in flight stay bounded.
  void add(wal_record&& rec);

  /// Every record added, kept: per shard (shard_index()), each key's
  /// newest change. Call once.
  std::vector<log_changes> finish();

  static constexpr size_t batch_records = 512;
  static constexpr size_t max_batches = 8;

private:
  void run();
  void keep(std::vector<wal_record>& batch);
  void stop();

  size_t shard_count_;
  std::vector<log_changes> changed_;
  std::vector<wal_record> filling_;
  std::mutex mutex_;
  std::condition_variable ready_; // a batch waits, or closing_
  std::condition_variable room_;  // fewer than max_batches wait
  std::deque<std::vector<wal_record>> queue_;
  bool closing_ = false;
  std::thread worker_;
};

} // namespace solver_state
