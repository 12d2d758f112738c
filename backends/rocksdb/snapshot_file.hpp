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

#include "backends/rocksdb/record.hpp"

namespace solver_state::rocks {

/// Appends to a shard's snapshot the totals its data had when it was made
/// (record.hpp: rewritten with every change, so any write since moves
/// them). A snapshot is written after its shard closed the database, and
/// another process may open and write it before the rename lands; an
/// older build, or a tool, may write the data without removing snapshots.
void bind_snapshot(std::string& bytes, const shard_totals& data);

/// The snapshot without its binding when it was made of the data whose
/// totals are `data`; nullopt otherwise (another run wrote since, or the
/// file has no binding).
std::optional<std::string> unbind_snapshot(std::string bytes,
                                           const shard_totals& data);

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
