#pragma once

// Shared by the file backend's tests: a temp directory, opening a base_path
// with a chosen shard count and env, and a file_env that fails on demand
// (the one fake in these tests: a disk that fails is what no user runs).

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <chrono>
#include <string>
#include <thread>

#include "backends/file/env.hpp"
#include "backends/file/plugin.hpp"
#include "backends/file/store.hpp"
#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

namespace solver_state::testing {

struct temp_dir {
  std::string path;
  /// Under `parent` (which must exist): /dev/shm keeps a test that writes
  /// gigabytes off the disk.
  explicit temp_dir(const std::string& parent = "/tmp") {
    auto tmpl = parent + "/file-test-XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string sub(const std::string& name) const { return path + "/" + name; }
};

inline state_config file_config_for(const std::string& base, size_t shards,
                                    fsync_policy fsync = fsync_policy::never) {
  state_config cfg;
  cfg.type = "file";
  cfg.shards = shards;
  cfg.max_items = 0;
  cfg.file.base_path = base;
  cfg.file.fsync = fsync;
  cfg.file.cache_items = 64;
  return cfg;
}

/// The stores of one open base_path, addressed by key like the router does.
struct opened_store {
  store_list stores;

  state_store& of(const std::string& key) {
    return *stores[shard_index(key, stores.size())];
  }

  caf::expected<version_t> put(const std::string& key, std::string value,
                               unix_ms now = 1000, unix_ms expires = 0) {
    auto& s = of(key);
    auto v = s.set(set_request{key, std::move(value), 0, condition::always()},
                   expires, now);
    if (!v)
      return std::move(v.error());
    if (auto err = s.commit())
      return err;
    return v->version;
  }

  caf::expected<bool> remove(const std::string& key, unix_ms now = 1000) {
    auto& s = of(key);
    auto r = s.erase(delete_request{key, condition::always()}, now);
    if (!r)
      return r;
    if (auto err = s.commit())
      return err;
    return r;
  }

  caf::expected<entry> get(const std::string& key, unix_ms now = 1000) {
    return of(key).get(key, now);
  }

  caf::error checkpoint_all() {
    for (auto& s : stores) {
      if (auto err = s->checkpoint())
        return err;
      // Folds run in the background; tests want the tree complete.
      if (auto fs = dynamic_cast<file_store*>(s.get()))
        if (auto err = fs->finish_fold())
          return err;
    }
    return {};
  }
};

inline caf::expected<opened_store>
open_store(const state_config& cfg,
           std::shared_ptr<file_env> env = default_file_env()) {
  auto stores = open_file_stores(cfg, std::move(env));
  if (!stores)
    return std::move(stores.error());
  return opened_store{std::move(*stores)};
}

/// Copies base_path as a crash would leave it: the files as they are now,
/// while the stores are still open (no close, no final checkpoint).
inline void crash_image(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

/// Where the records of a preallocated log end: after its last non-zero
/// byte (the terminator and the zero-filled rest follow); 0 for a log of
/// zeros.
inline size_t log_records_end(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  auto last = bytes.find_last_not_of('\0');
  return last == std::string::npos ? 0 : last + 1;
}

/// Writes `bytes` over the file at `off` (damage, a torn write).
inline void overwrite(const std::string& path, size_t off,
                      const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(off));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The backend's own files at the top of `dir` ("~wal-0-1.log", ...).
inline std::set<std::string> root_files(const std::string& dir) {
  std::set<std::string> out;
  for (auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file())
      out.insert(e.path().filename().string());
  return out;
}

/// The real disk, with each value file a fold writes taking `delay` more
/// to create: a disk slower than the writes, so folds lag and writers meet
/// the backpressure (state.file.max_unfolded_bytes).
class slow_fold_env : public file_env {
public:
  explicit slow_fold_env(std::chrono::microseconds delay) : delay_(delay) {}

  int open_at(int dir, const std::string& name, int flags,
              mode_t mode) override {
    bool fold_temp = (flags & O_CREAT) && name.size() > 4 && name[0] != '~'
                     && name.compare(name.size() - 4, 4, "~tmp") == 0;
    if (fold_temp)
      std::this_thread::sleep_for(delay_);
    return file_env::open_at(dir, name, flags, mode);
  }

private:
  std::chrono::microseconds delay_;
};

/// A disk that fails on demand: writes with ENOSPC, syncs and reads with
/// EIO, creating files with EROFS. Counts opens so tests can see disk reads, and
/// the successful syncs of each file name so they can see what was made
/// durable.
class failing_env : public file_env {
public:
  std::atomic<bool> fail_writes{false};
  std::atomic<bool> fail_syncs{false};
  std::atomic<bool> read_only{false};
  /// Reads of whole files (value files) fail with EIO.
  std::atomic<bool> fail_reads{false};
  /// Writes that still succeed before every later one fails with ENOSPC
  /// (nothing written); -1: never.
  std::atomic<int> writes_before_failure{-1};
  std::atomic<size_t> opens{0};
  /// What free_bytes() reports; -1: the real filesystem's figure.
  std::atomic<int64_t> free_space{-1};

  /// Successful syncs of a file opened under `name` (in any directory).
  size_t syncs_of(const std::string& name) const {
    std::lock_guard<std::mutex> guard{names_mutex_};
    auto it = syncs_.find(name);
    return it == syncs_.end() ? 0 : it->second;
  }

  /// Opens of files named `name` (in any directory) fail with EMFILE, as
  /// when the process is out of descriptors; empty: none.
  void refuse_opens_of(std::string name) {
    std::lock_guard<std::mutex> guard{names_mutex_};
    refused_ = std::move(name);
  }

  int open_at(int dir, const std::string& name, int flags,
              mode_t mode) override {
    ++opens;
    if (read_only && (flags & O_CREAT))
      return -EROFS;
    {
      std::lock_guard<std::mutex> guard{names_mutex_};
      if (!refused_.empty() && name == refused_)
        return -EMFILE;
    }
    int fd = file_env::open_at(dir, name, flags, mode);
    if (fd >= 0) {
      std::lock_guard<std::mutex> guard{names_mutex_};
      names_[fd] = name;
    }
    return fd;
  }
  int close(int fd) override {
    {
      std::lock_guard<std::mutex> guard{names_mutex_};
      names_.erase(fd);
    }
    return file_env::close(fd);
  }
  int mkdir_at(int dir, const std::string& name) override {
    if (read_only)
      return -EROFS;
    return file_env::mkdir_at(dir, name);
  }
  int write_at(int fd, const void* data, size_t n, off_t off) override {
    if (writes_before_failure == 0)
      return -ENOSPC;
    if (writes_before_failure > 0)
      --writes_before_failure;
    if (read_only)
      return -EROFS;
    if (fail_writes) {
      // A full disk often takes part of the write before it refuses.
      if (n > 1)
        file_env::write_at(fd, data, n / 2, off);
      return -ENOSPC;
    }
    return file_env::write_at(fd, data, n, off);
  }
  int sync(int fd, bool data_only) override {
    if (fail_syncs)
      return -EIO;
    int rc = file_env::sync(fd, data_only);
    if (rc == 0) {
      std::lock_guard<std::mutex> guard{names_mutex_};
      if (auto it = names_.find(fd); it != names_.end())
        ++syncs_[it->second];
    }
    return rc;
  }
  int sync_fs(int fd) override {
    if (fail_syncs)
      return -EIO;
    return file_env::sync_fs(fd);
  }
  /// The batched folds the tests expect, whatever the kernel: the failures
  /// they check are this env's own.
  bool sync_fs_reports_errors() override { return true; }
  int read_all(int fd, std::string& out) override {
    if (fail_reads)
      return -EIO;
    return file_env::read_all(fd, out);
  }
  int free_bytes(int fd, uint64_t& out) override {
    if (auto v = free_space.load(); v >= 0) {
      out = static_cast<uint64_t>(v);
      return 0;
    }
    return file_env::free_bytes(fd, out);
  }

private:
  mutable std::mutex names_mutex_;
  std::map<int, std::string> names_; // of the open fds
  std::string refused_; // refuse_opens_of
  std::map<std::string, size_t> syncs_;
};

} // namespace solver_state::testing
