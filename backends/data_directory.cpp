// An embedded engine's base_path, tried before the engine opens it.

#include "backends/data_directory.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace solver_state {

namespace {

namespace fs = std::filesystem;

/// The nearest of `path` and its parents that exists ("." for a relative
/// path none of whose parts exists), and the missing ones below it, the
/// nearest first.
fs::path nearest_existing(const fs::path& path, std::vector<fs::path>& missing) {
  std::error_code ec;
  auto at = path;
  // "var/state/" names "var/state", which would otherwise be tried twice.
  while (!at.has_filename() && at.has_relative_path())
    at = at.parent_path();
  while (!fs::exists(at, ec)) {
    auto parent = at.parent_path();
    if (parent.empty()) { // a relative path: under the working directory
      missing.insert(missing.begin(), at);
      return ".";
    }
    if (parent == at)
      break;
    missing.insert(missing.begin(), at);
    at = parent;
  }
  return at;
}

/// Creates and removes a directory of a name of its own in `at`: why it
/// could not, or "". Never the path asked about: another process (the
/// service starting while its config is checked, or a second check) may be
/// creating that same path, and creating and removing it under that one
/// made either fail with "No such file or directory".
std::string try_to_create(const fs::path& at) {
  static std::atomic<unsigned> probes{0};
  auto probe = at / (".solver-state-probe-" + std::to_string(::getpid()) + "-"
                     + std::to_string(++probes));
  if (::mkdir(probe.c_str(), 0700) != 0)
    return std::strerror(errno);
  ::rmdir(probe.c_str());
  return {};
}

} // namespace

std::string unusable_data_directory(const fs::path& path) {
  std::vector<fs::path> missing;
  auto at = nearest_existing(path, missing);
  auto shown = at.string();
  auto cannot = missing.empty() ? shown
                                : "cannot create " + path.string() + ": " + shown;
  std::error_code ec;
  if (!fs::is_directory(at, ec))
    return cannot + " is not a directory";
  if (::access(shown.c_str(), W_OK | X_OK) != 0)
    return cannot + " is not writable by this user";
  if (missing.empty())
    return {};
  if (auto why = try_to_create(at); !why.empty())
    return "cannot create " + path.string() + ": " + why;
  return {};
}

} // namespace solver_state
