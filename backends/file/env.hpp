#pragma once

// All file I/O of the file backend goes through file_env (LevelDB's Env
// idea): the store's logic never calls the OS directly, so tests can inject a
// full disk, a failing fsync or a read-only filesystem by overriding one
// method. Every call mirrors its POSIX namesake and returns the result or
// -errno; names are always relative to a directory fd (openat family), which
// is how the backend keeps every path inside base_path.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>

namespace solver_state {

/// One entry of a directory listing.
struct dir_entry {
  enum kind_t : uint8_t { file, directory, symlink, other };
  std::string name;
  kind_t kind = other;
};

class file_env {
public:
  virtual ~file_env();

  /// openat(dir_fd, name, flags | O_CLOEXEC, mode): an fd or -errno.
  virtual int open_at(int dir_fd, const std::string& name, int flags,
                      mode_t mode = 0644);

  virtual int close(int fd);

  /// mkdirat: 0, or -errno (-EEXIST when it exists).
  virtual int mkdir_at(int dir_fd, const std::string& name);

  /// Writes all `n` bytes at `offset` (retrying short writes): 0 or -errno.
  virtual int write_at(int fd, const void* data, size_t n, off_t offset);

  /// Reads the whole file into `out`: 0 or -errno.
  virtual int read_all(int fd, std::string& out);

  /// Reads up to `n` bytes at `offset` (fewer only at the end of the file):
  /// the count read, or -errno.
  virtual long read_at(int fd, void* data, size_t n, off_t offset);

  /// The file's length: 0 or -errno.
  virtual int file_size(int fd, uint64_t& out);

  /// fdatasync (data_only) or fsync: 0 or -errno.
  virtual int sync(int fd, bool data_only);

  /// syncfs: flushes the whole filesystem holding `fd` (one barrier for a
  /// large batch of files instead of one fsync each).
  virtual int sync_fs(int fd);

  /// Whether sync_fs reports the writeback errors of the files it flushes,
  /// once to each descriptor opened before them: Linux 5.8 and later. Before,
  /// syncfs returns 0 whatever failed, and nothing may rest on it.
  virtual bool sync_fs_reports_errors();

  virtual int truncate(int fd, off_t size);

  virtual int rename_at(int from_dir, const std::string& from, int to_dir,
                        const std::string& to);

  /// unlinkat(dir_fd, name, flags): 0 or -errno.
  virtual int unlink_at(int dir_fd, const std::string& name, int flags = 0);

  /// flock(LOCK_EX | LOCK_NB): 0 or -errno (-EWOULDBLOCK when held).
  virtual int lock(int fd);

  /// The entries of the directory `dir_fd` (not "." and ".."), symlinks
  /// reported as such (never followed): 0 or -errno.
  virtual int list_dir(int dir_fd, std::vector<dir_entry>& out);

  /// Bytes an unprivileged writer may still put on the filesystem holding
  /// `fd` (fstatvfs: f_bavail * f_frsize): 0 or -errno.
  virtual int free_bytes(int fd, uint64_t& out);
};

/// The real filesystem.
std::shared_ptr<file_env> default_file_env();

/// io_error naming the operation, the path and the OS reason;
/// insufficient_storage for ENOSPC and EDQUOT.
caf::error io_failure(const std::string& what, const std::string& path,
                      int neg_errno);

/// An fd closed on destruction (through its env).
class unique_fd {
public:
  unique_fd() = default;
  unique_fd(file_env* env, int fd) : env_(env), fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept
    : env_(other.env_), fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      env_ = other.env_;
      fd_ = other.release();
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0 && env_)
      env_->close(fd_);
    fd_ = -1;
  }

private:
  file_env* env_ = nullptr;
  int fd_ = -1;
};

} // namespace solver_state
