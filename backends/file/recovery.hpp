#pragma once

// Opening base_path: the lock that keeps a second process out, and the
// recovery that runs once before the shards start: load the key tree,
// replay every log left by the previous run (whatever its shard count),
// and split the keys among the new shards. The logs' changes are then
// either folded into the tree at once, or (the store's way: a start should
// not wait for a fold, nor a stop) left in their logs and handed to the
// shards' memory (inherited_logs), which fold them in the background like
// any other write. A fold at start that finds no room on the disk takes the
// second way too, and the store starts read-only rather than not at all.

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <absl/container/btree_map.h>
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

/// Every key of a shard, in key order (list() walks it). A B-tree of 1 KiB
/// nodes rather than std::map's node per key: with a million keys a lookup
/// (every read and write) takes half the time (fewer levels, no pointer to
/// chase per level), the index 30% less memory (about 90 bytes a key of 22
/// bytes, against 128), and a start a handful of allocations per node of
/// keys instead of one per key (bench/README.md, "The key index as a
/// B-tree"). Entries move when others are inserted or erased: nothing keeps
/// a pointer into it.
using key_index = absl::container_internal::btree_map_container<
  absl::container_internal::btree<absl::container_internal::map_params<
    std::string, key_meta, std::less<std::string>,
    std::allocator<std::pair<const std::string, key_meta>>, 1024, false>>>;

/// A key's latest change recorded in a log and not yet folded into the
/// tree: its new contents, or its removal.
struct log_change {
  bool removed = false;
  entry data;
};

using log_changes = std::unordered_map<std::string, log_change>;

/// Logs of the previous run that start-up could not fold (no room on the
/// disk). Their changes wait in the shards' memory (recovered_state::
/// unfolded); each shard folds its part with its first fold. Until every
/// shard has, the logs must stay, and so must every log a shard retires
/// after them: replaying an old put after a newer delete was folded and its
/// log removed would bring a deleted key back.
struct inherited_logs {
  std::vector<std::string> names;
  /// Shards that have not folded their part yet; the one that brings it to
  /// zero removes the logs.
  std::atomic<size_t> shards_left{0};
};

struct recover_options {
  /// A log damaged inside its synced part is cut at the damage (the records
  /// after it are logged and dropped) instead of refusing to start.
  bool truncate_damaged_log = false;
  /// Fold the logs into the tree before returning; else hand their changes
  /// to the shards (recovered_state::inherited).
  bool fold_logs = true;
};

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
  /// Logs cut at damage inside their synced part (truncate_damaged_log),
  /// and the valid records dropped with them.
  size_t truncated_logs = 0;
  size_t truncated_records = 0;
  /// Why the logs could not be folded, when the disk had no room. Then, and
  /// without fold_logs, they stay (`inherited`), and each shard gets its
  /// part of their changes in `unfolded`.
  std::string fold_postponed;
  std::vector<log_changes> unfolded;
  std::shared_ptr<inherited_logs> inherited;
  /// The generation of the shards' first logs: 0, or above every kept log
  /// (a new log must never overwrite one of them).
  uint64_t first_log_generation = 0;
  /// The keys came from the shards' index files (index_file.hpp), not from
  /// a scan of the tree; else why the tree was scanned.
  bool from_index = false;
  std::string scanned_because;
  /// The set number of the key index files on disk after the start
  /// (index_file.hpp); 0 when there are none. What a snapshot kept beside
  /// the data is bound to: a start that scanned the tree (a changed shard
  /// count, an edited tree) draws a new one, and older snapshots no longer
  /// apply.
  uint64_t index_set = 0;
  /// Per shard: the snapshot it kept at the last clean stop
  /// (snapshot_file_name), read and already removed from the disk.
  std::vector<std::optional<std::string>> snapshots;
  /// A fold of the last run was interrupted: its temp files are left to
  /// the shards' next folds, which the marks tell which they are
  /// (fold_mark.hpp), or were found by a walk of the tree's directories and
  /// removed (removed_temps) when a mark did not say.
  bool temps_left_to_folds = false;
  bool removed_temps = false;
};

/// Loads everything under `base` for `shard_count` shards, and folds the
/// logs or hands them on (recover_options::fold_logs).
caf::expected<recovered_state> recover(const file_base& base,
                                       size_t shard_count,
                                       recover_options opts = {});

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
