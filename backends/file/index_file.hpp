#pragma once

// The key index of one shard, on disk ("~index-S"), so that a start reads one
// file per shard instead of opening every value file (a million keys: ~1 s
// instead of minutes with a cold page cache).
//
// It holds what the tree holds for the shard's keys (version, expiry, size
// of each), as of the shard's last completed fold: every fold merges its
// changes into it after the tree is durable and before the fold's logs are
// retired, so the index plus the logs still on disk always describe the
// store, exactly as the tree plus those logs do. Values are not in it: they
// are checked when read (checksum, and the version the index expects).
//
//   "SSIX1\n\0\0" | shard u32 | shard_count u32 | set u64 | keys u64
//   | keys x (key_len u16 | key | version u64 | expires_at_ms i64 | size u64)
//   | crc32c u32 of everything before it
//
// `set` is drawn when a start writes the indexes of every shard; folds carry
// it on. A start uses the indexes only when one per shard is there, all of
// the current shard count and of one set; otherwise it scans the tree and
// writes a new set. A fold marks itself ("~folding-S", fold_mark.hpp) before
// it writes the tree, naming the keys whose temp files it may leave.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/file/recovery.hpp"

namespace solver_state {

struct index_file_header {
  uint32_t shard = 0;
  uint32_t shard_count = 0;
  uint64_t set = 0;
  uint64_t keys = 0;
};

/// "~index-S" and "~folding-S".
std::string index_file_name(size_t shard);
std::string fold_mark_name(size_t shard);

/// True for "~index-N" (N digits), setting `shard`.
bool parse_index_file_name(const std::string& name, size_t& shard);

/// "~query-S": what shard S keeps beside the data from a clean stop to the
/// next start (state_store::keep_snapshot: its query indexes), followed by
/// the set number of the key index it was kept with (u64): a start whose
/// key index is of another set (the tree was scanned again) cannot use it.
std::string snapshot_file_name(size_t shard);
bool parse_snapshot_file_name(const std::string& name, size_t& shard);

/// Encodes one shard's keys, added in key order.
class index_file_builder {
public:
  index_file_builder();
  void add(std::string_view key, const key_meta& meta);
  /// The file's bytes, under `header` (its key count is the builder's).
  std::string finish(index_file_header header);

private:
  uint64_t keys_ = 0;
  std::string bytes_;
};

using index_visitor =
  std::function<void(std::string_view key, const key_meta& meta)>;

/// Verifies the checksum and the structure of `bytes`, then visits every
/// key in order; `path` names the file in errors (backend_error).
caf::expected<index_file_header> read_index_file(std::string_view bytes,
                                                 const std::string& path,
                                                 const index_visitor& visit);

/// A fresh set number for the indexes a start writes.
uint64_t new_index_set();

/// The fold's part: rewrites the shard's index as the old one plus
/// `changes`, durably. Without a valid index to start from (none was
/// written, or it is damaged) it writes nothing and says so: the next
/// start scans the tree. Call once the tree holds `changes`.
caf::error fold_into_index(const file_tree& tree, uint32_t shard,
                           const log_changes& changes);

/// Reads the root file `name` of `tree`; not_found when there is none.
caf::expected<std::string> read_tree_root_file(const file_tree& tree,
                                               const std::string& name);

} // namespace solver_state
