#pragma once

// Opening base_path: the lock that keeps a second process out, and the
// recovery that runs once before the shards start: load the key tree,
// replay every log left by the previous run (whatever its shard count),
// fold them into the tree, and split the keys among the new shards.

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

#include "backends/file/env.hpp"
#include "backends/file/tree.hpp"
#include "messages/values.hpp"

namespace solver_state {

/// base_path, opened and locked (flock on "~lock") for as long as any store
/// of this open holds it.
struct file_base {
  std::shared_ptr<file_env> env;
  std::string path;
  unique_fd root;
  unique_fd lock;

  file_tree tree() const { return file_tree{env, root.get(), path}; }
};

/// Creates base_path if needed, opens it and takes its lock. Fails with a
/// clear message when another process (or another open) holds it.
caf::expected<std::shared_ptr<file_base>>
open_base(std::shared_ptr<file_env> env, const std::string& path);

/// What the index keeps per key, so list() and absent-key reads never touch
/// the disk.
struct key_meta {
  version_t version = 0;
  unix_ms expires_at_ms = 0;
  uint64_t size = 0; // value bytes
};

using key_index = std::map<std::string, key_meta>;

struct recovered_state {
  std::vector<key_index> shards; // keys per shard, by shard_index()
  version_t max_version = 0;     // highest version ever issued
  size_t keys = 0;
  size_t log_records = 0;
  size_t torn_logs = 0; // logs that end with a write cut short
  /// Per shard: keys whose value file failed its checks, was moved into
  /// quarantine and is not settled by a later write or delete in the logs,
  /// with what happened.
  std::vector<std::unordered_map<std::string, quarantine_record>> quarantined;
};

/// Loads and folds everything under `base`, for `shard_count` shards.
caf::expected<recovered_state> recover(const file_base& base,
                                       size_t shard_count);

/// Name of shard `index`'s log of `generation` (a new one per fold) and of
/// its version high-water-mark file.
std::string wal_name(size_t index, uint64_t generation);
std::string hwm_name(size_t index);

/// Name of shard `index`'s folded log kept for reuse (never replayed: its
/// records are all in the tree).
std::string wal_spare_name(size_t index);

/// The bytes of a high-water-mark file (checksummed).
std::string encode_hwm(version_t v);

} // namespace solver_state
