#pragma once

// Whether an embedded engine's base_path holds the other engine's store: a
// change of state.type alone over the same directory must not start an
// empty store (every key 404) beside the data it cannot read.

#include <filesystem>
#include <string>

namespace solver_state {

/// The file showing that `dir` holds a RocksDB database (its CURRENT,
/// naming a MANIFEST), or "" (also when `dir` does not exist).
std::string rocksdb_database_file(const std::filesystem::path& dir);

/// A file or directory of the file backend's own in `dir` (a log, a version
/// mark, a key index, a fold mark, a query index snapshot, the quarantine:
/// docs/file-backend.md, "The files"), or "". `~lock` is not one: the file
/// backend takes it before it looks at anything else.
std::string file_backend_file(const std::filesystem::path& dir);

/// Why the file backend must not open `dir`, or "": it holds a RocksDB
/// database.
std::string refused_by_file_backend(const std::filesystem::path& dir);

/// Why RocksDB must not open `dir`, or "": there is no database yet, and
/// RocksDB would create an empty one beside the file backend's store.
std::string refused_by_rocksdb(const std::filesystem::path& dir);

} // namespace solver_state
