#pragma once

// What the embedded engines (file, rocksdb) ask of their base_path before
// they open it, for --check-config and start-up alike.

#include <filesystem>
#include <string>

namespace solver_state {

/// Why `path` cannot be an embedded engine's data directory, or "": it must
/// be a directory this process may write, or be creatable as one. For a
/// missing one, a directory of a name of its own is created in its nearest
/// existing parent and removed again (never the path itself, which another
/// process may be creating): permission bits alone say yes to root even
/// where nothing can be created (/proc/solver). An existing directory is only asked access(): a probe
/// entry in it could meet a running engine's scan of its tree.
std::string unusable_data_directory(const std::filesystem::path& path);

} // namespace solver_state
