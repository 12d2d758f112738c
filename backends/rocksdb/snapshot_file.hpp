#pragma once

// What a rocksdb shard keeps from a clean stop to the next start
// (state_store::keep_snapshot: its query indexes), in a file of its own in
// the database's directory: "query-S.snapshot". RocksDB removes only files
// whose names it gives, so it leaves these alone. Every open of the
// database reads them into memory and removes them (database::open), and
// keeps none when the shard count changed (a snapshot names its shard, but
// shard S of a later run with the old count again would not be the same
// data).

#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace solver_state::rocks {

std::string snapshot_file_name(size_t shard);

/// Writes `bytes` as `dir`/`name`: a temp file, synced, renamed over it,
/// the directory synced.
caf::error write_snapshot_file(const std::string& dir, const std::string& name,
                               const std::string& bytes);

/// Reads `dir`/`name` and removes it, durably, before returning what it
/// held; nothing when there is no such file.
caf::expected<std::optional<std::string>>
take_snapshot_file(const std::string& dir, const std::string& name);

/// Removes every "query-*.snapshot" of `dir`, durably.
caf::error remove_snapshot_files(const std::string& dir);

} // namespace solver_state::rocks
