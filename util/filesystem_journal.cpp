#include "util/filesystem_journal.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>
#include <system_error>

namespace solver_state {

namespace {

/// The first line of a small sysfs file, or nothing.
std::string first_line(const std::filesystem::path& file) {
  std::ifstream in{file};
  std::string line;
  std::getline(in, line);
  return line;
}

} // namespace

filesystem_journal journal_of(const std::string& path,
                              const std::string& sys_root) {
  namespace fs = std::filesystem;
  filesystem_journal out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return out;
  auto node = fs::path{sys_root} / "dev" / "block"
              / (std::to_string(major(st.st_dev)) + ":"
                 + std::to_string(minor(st.st_dev)));
  std::error_code ec;
  // A symlink to the device's directory, whose name is the kernel's.
  auto target = fs::read_symlink(node, ec);
  if (ec || target.filename().empty())
    return out;
  out.device = target.filename().string();
  auto ext4 = fs::path{sys_root} / "fs" / "ext4" / out.device;
  if (!fs::is_directory(ext4, ec))
    return out; // not ext4 (or mounted as something else)
  auto task = ext4 / "journal_task";
  if (!fs::exists(task, ec))
    return out; // a kernel that does not say
  out.state = first_line(task) == "<none>" ? journal_state::no_journal
                                           : journal_state::journaled;
  return out;
}

std::string journal_warning(const std::string& engine,
                            const std::string& base_path,
                            const filesystem_journal& fs, bool file_per_key) {
  if (fs.state != journal_state::no_journal)
    return {};
  auto text = engine + " backend: " + base_path + " is on ext4 without a "
              "journal (/dev/" + fs.device + "): a power loss leaves that "
              "filesystem for fsck to repair, which may move or drop files "
              "the store relies on";
  if (file_per_key)
    text += "; and ext4 without a journal skips every inode freed in the "
            "last minutes when it creates a file, so folds that overwrite "
            "keys run 4-8x slower (measured)";
  return text + ". Put base_path on a journaled filesystem (the default of "
                "mkfs.ext4) or on XFS";
}

} // namespace solver_state
