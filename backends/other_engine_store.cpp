// Looks for the other embedded engine's store in a base_path: a few names at
// its top, never its tree.

#include "backends/other_engine_store.hpp"

#include <array>
#include <fstream>
#include <string_view>
#include <system_error>

namespace solver_state {

namespace fs = std::filesystem;

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string how_to_move(const std::string& other_type) {
  return "set state.type: " + other_type
         + " to serve it, or give this backend a directory of its own; to "
           "move a store from one backend to another, run a second service "
           "on the new one and copy with export | import (docs/cli.md, "
           "\"Migrating from the file backend to PostgreSQL\")";
}

} // namespace

std::string rocksdb_database_file(const fs::path& dir) {
  auto current = dir / "CURRENT";
  std::error_code ec;
  if (!fs::is_regular_file(current, ec))
    return {};
  // A key's file is named NAME.val: a bare CURRENT is never one. Its first
  // line names the database's MANIFEST.
  std::ifstream in(current, std::ios::binary);
  std::string line;
  std::getline(in, line);
  return starts_with(line, "MANIFEST-") ? current.string() : std::string{};
}

std::string file_backend_file(const fs::path& dir) {
  static constexpr std::array<std::string_view, 5> prefixes{
    "~wal-", "~hwm-", "~index-", "~folding-", "~query-"};
  std::error_code ec;
  // Only the top of the directory: the backend's own files all live there,
  // and a key's top-level directory is never looked into.
  for (fs::directory_iterator it{dir, ec}, end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name == "~quarantine")
      return it->path().string();
    for (auto prefix : prefixes)
      if (starts_with(name, prefix))
        return it->path().string();
  }
  return {};
}

std::string refused_by_file_backend(const fs::path& dir) {
  auto found = rocksdb_database_file(dir);
  if (found.empty())
    return {};
  return dir.string() + " holds a RocksDB database (" + found
         + "), not the file backend's store: opened as one it would serve "
           "an empty store; "
         + how_to_move("rocksdb");
}

std::string refused_by_rocksdb(const fs::path& dir) {
  if (!rocksdb_database_file(dir).empty())
    return {};
  auto found = file_backend_file(dir);
  if (found.empty())
    return {};
  return dir.string() + " holds the file backend's store (" + found
         + ") and no RocksDB database: RocksDB would create an empty one "
           "beside it; "
         + how_to_move("file");
}

} // namespace solver_state
