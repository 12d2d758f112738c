// The real-filesystem file_env: the openat-family POSIX calls the file
// backend makes, retried on EINTR and short I/O, returning -errno.

#include "backends/file/env.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

int result_of(int rc) {
  return rc < 0 ? -errno : rc;
}

} // namespace

file_env::~file_env() = default;

int file_env::open_at(int dir_fd, const std::string& name, int flags,
                      mode_t mode) {
  int fd;
  do
    fd = ::openat(dir_fd, name.c_str(), flags | O_CLOEXEC, mode);
  while (fd < 0 && errno == EINTR);
  return result_of(fd);
}

int file_env::close(int fd) {
  return result_of(::close(fd));
}

int file_env::mkdir_at(int dir_fd, const std::string& name) {
  return result_of(::mkdirat(dir_fd, name.c_str(), 0755));
}

int file_env::write_at(int fd, const void* data, size_t n, off_t offset) {
  auto bytes = static_cast<const char*>(data);
  while (n > 0) {
    auto written = ::pwrite(fd, bytes, n, offset);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (written == 0)
      return -EIO;
    bytes += written;
    n -= static_cast<size_t>(written);
    offset += written;
  }
  return 0;
}

namespace {

/// pread until `n` bytes or end of file, retrying on EINTR: the bytes read,
/// or -errno.
long pread_fully(int fd, char* data, size_t n, off_t offset) {
  size_t done = 0;
  while (done < n) {
    auto got = ::pread(fd, data + done, n - done,
                       offset + static_cast<off_t>(done));
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (got == 0)
      break;
    done += static_cast<size_t>(got);
  }
  return static_cast<long>(done);
}

} // namespace

int file_env::read_all(int fd, std::string& out) {
  out.clear();
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return -errno;
  // One byte more than the file holds: a read that stops short of it proves
  // the end in one pass. Sized exactly, the read filled the string, which
  // then grew (doubling: an allocation and a copy of the whole file, three
  // times a log's size in memory at a start) for a second read that found
  // nothing, a second pread for every value file read.
  out.resize(static_cast<size_t>(st.st_size) + 1);
  size_t done = 0;
  for (;;) {
    if (done == out.size())
      out.resize(out.size() + out.size() / 2); // the file has grown
    auto wanted = out.size() - done;
    auto got = pread_fully(fd, out.data() + done, wanted,
                           static_cast<off_t>(done));
    if (got < 0)
      return static_cast<int>(got);
    done += static_cast<size_t>(got);
    if (static_cast<size_t>(got) < wanted)
      break; // end of file
  }
  out.resize(done);
  return 0;
}

long file_env::read_at(int fd, void* data, size_t n, off_t offset) {
  return pread_fully(fd, static_cast<char*>(data), n, offset);
}

int file_env::file_size(int fd, uint64_t& out) {
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return -errno;
  out = static_cast<uint64_t>(st.st_size);
  return 0;
}

int file_env::sync(int fd, bool data_only) {
  return result_of(data_only ? ::fdatasync(fd) : ::fsync(fd));
}

int file_env::sync_fs(int fd) {
  return result_of(::syncfs(fd));
}

bool file_env::sync_fs_reports_errors() {
  static const bool reports = [] {
    utsname u{};
    unsigned major = 0, minor = 0;
    if (::uname(&u) != 0
        || std::sscanf(u.release, "%u.%u", &major, &minor) != 2)
      return false; // cannot tell: sync each file
    bool yes = major > 5 || (major == 5 && minor >= 8);
    if (!yes)
      spdlog::info("file backend: kernel {} reports no writeback error "
                   "through syncfs (5.8 and later do): folds sync each "
                   "value file on its own",
                   u.release);
    return yes;
  }();
  return reports;
}

int file_env::free_bytes(int fd, uint64_t& out) {
  struct statvfs st {};
  if (::fstatvfs(fd, &st) != 0)
    return -errno;
  out = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  return 0;
}

int file_env::truncate(int fd, off_t size) {
  return result_of(::ftruncate(fd, size));
}

int file_env::rename_at(int from_dir, const std::string& from, int to_dir,
                        const std::string& to) {
  return result_of(::renameat(from_dir, from.c_str(), to_dir, to.c_str()));
}

int file_env::unlink_at(int dir_fd, const std::string& name, int flags) {
  return result_of(::unlinkat(dir_fd, name.c_str(), flags));
}

int file_env::lock(int fd) {
  return result_of(::flock(fd, LOCK_EX | LOCK_NB));
}

int file_env::list_dir(int dir_fd, std::vector<dir_entry>& out) {
  out.clear();
  // fdopendir takes ownership of its fd: hand it a duplicate.
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    int err = errno;
    ::close(fd);
    return -err;
  }
  errno = 0;
  while (auto ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..")
      continue;
    dir_entry e{std::move(name), dir_entry::other};
    auto type = ent->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (::fstatat(dir_fd, e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        type = S_ISDIR(st.st_mode)   ? DT_DIR
               : S_ISREG(st.st_mode) ? DT_REG
               : S_ISLNK(st.st_mode) ? DT_LNK
                                     : DT_UNKNOWN;
    }
    e.kind = type == DT_REG   ? dir_entry::file
             : type == DT_DIR ? dir_entry::directory
             : type == DT_LNK ? dir_entry::symlink
                              : dir_entry::other;
    out.push_back(std::move(e));
  }
  int err = errno;
  ::closedir(dir);
  return err != 0 ? -err : 0;
}

std::shared_ptr<file_env> default_file_env() {
  static auto env = std::make_shared<file_env>();
  return env;
}

caf::error io_failure(const std::string& what, const std::string& path,
                      int neg_errno) {
  // A full disk (or quota) is a state the store waits out read-only, not a
  // failure of the operation's own making: callers and metrics tell it apart.
  bool no_space = neg_errno == -ENOSPC || neg_errno == -EDQUOT;
  return make_state_error(no_space ? state_errc::insufficient_storage
                                   : state_errc::io_error,
                          what + " " + path + ": "
                            + std::strerror(-neg_errno));
}

} // namespace solver_state
