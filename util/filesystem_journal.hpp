#pragma once

// Whether the ext4 filesystem under a path keeps a journal, as the kernel
// reports it in sysfs. The embedded engines warn at start when it does not:
// without a journal a power loss leaves the filesystem to fsck, and ext4
// then skips every inode freed in the last minutes when it creates a file,
// which made folds of overwrites 4-8x slower in measured runs
// (docs/file-backend.md, "The filesystem under base_path").

#include <string>

namespace solver_state {

enum class journal_state {
  journaled,
  no_journal,
  /// Not ext4, or the kernel does not say (no sysfs, an old kernel, a
  /// filesystem without a block device).
  unknown,
};

struct filesystem_journal {
  journal_state state = journal_state::unknown;
  /// The block device's kernel name ("vda", "nvme0n1p2"), when found.
  std::string device;
};

/// What sysfs under `sys_root` says of the filesystem holding `path`:
/// /sys/dev/block/MAJOR:MINOR names its device, and
/// /sys/fs/ext4/DEVICE/journal_task reads "<none>" on ext4 without a
/// journal (Linux 5.x and later). Reads two small files; never throws.
filesystem_journal journal_of(const std::string& path,
                              const std::string& sys_root = "/sys");

/// What `engine` (the backend's name) logs at start about `fs`, the
/// filesystem of its `base_path`, or "" when there is nothing to say.
/// `file_per_key`: the engine creates a file for each key it writes, so it
/// also pays ext4's slow inode allocation.
std::string journal_warning(const std::string& engine,
                            const std::string& base_path,
                            const filesystem_journal& fs, bool file_per_key);

} // namespace solver_state
