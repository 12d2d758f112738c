#pragma once

// A file_env that models what a power loss does to a filesystem, after
// LevelDB's FaultInjectionTestEnv and SQLite's crash VFS: the whole tree
// under base_path lives in memory, as the page cache sees it, and beside it
// what the disk is known to hold, i.e. what the last sync made durable.
//  - A file's writes since its last sync (fsync, fdatasync, syncfs) are
//    pending, page by page (4 KiB). A crash keeps none of them, all of
//    them, or a random choice per page: the old page, the new one, zeros
//    where nothing was synced before (an allocated block never written), or
//    the page torn at sector (512 bytes) granularity. Its size becomes the
//    synced one, the current one, or a page boundary in between.
//  - A directory's creates, renames and unlinks since its last fsync are
//    pending too: a crash keeps a random prefix of them (journalled
//    filesystems commit namespace changes in order).
//  - Synced bytes are never damaged: a page that a crash may change was
//    written since the last sync, and bytes equal before and after that
//    write stay equal in every sector a torn write takes from either.
// crash_after(n) arms the power loss at the n-th change from now (a write,
// sync, create, rename, unlink, mkdir, truncate), crash_at_sync(n) at the
// n-th sync: that call and every one after it fails with EIO and changes
// nothing, as if the machine were off.
// reboot() then applies the loss and makes the result the durable state.
// Everything is behind one mutex: the store folds on its own thread.

#include <fcntl.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backends/file/env.hpp"

namespace solver_state::testing {

class crash_env : public file_env {
public:
  static constexpr uint64_t page_bytes = 4096;
  static constexpr uint64_t sector_bytes = 512;

  /// `root_path` is base_path: opening it from AT_FDCWD gives the root
  /// directory (which exists and is durable). Nothing else exists.
  explicit crash_env(std::string root_path)
    : root_path_(std::move(root_path)), root_(std::make_shared<node>()) {
    root_->is_dir = true;
  }

  // -- the power switch ------------------------------------------------------------

  /// The power fails at the n-th (n >= 1) change from now.
  void crash_after(uint64_t n) {
    std::lock_guard<std::mutex> guard{mutex_};
    crash_at_ = changes_ + n;
  }

  /// The power fails at the n-th (n >= 1) sync from now, just before it
  /// reaches the disk: where the most is written and not yet durable.
  void crash_at_sync(uint64_t n) {
    std::lock_guard<std::mutex> guard{mutex_};
    sync_crash_at_ = syncs_ + n;
  }

  /// The power fails now.
  void crash_now() {
    std::lock_guard<std::mutex> guard{mutex_};
    crashed_ = true;
  }

  void disarm() {
    std::lock_guard<std::mutex> guard{mutex_};
    crash_at_ = 0;
    sync_crash_at_ = 0;
  }

  bool crashed() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return crashed_;
  }

  /// Changes made so far (what crash_after counts).
  uint64_t changes() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return changes_;
  }

  /// Power back on: the pending changes of every file and directory are
  /// lost, kept, or a random mix of both (see above); the result is
  /// durable. Every fd is gone. Call with no store open.
  void reboot(std::mt19937_64& rng) {
    reboot(rng, static_cast<loss>(rng() % 4));
  }

  /// Power back on with every pending change lost: exactly what was synced.
  void reboot_synced_only() {
    std::mt19937_64 unused{0};
    reboot(unused, loss::none_kept);
  }

  // -- for tests of damage and of what a crash left ----------------------------


  /// The bytes of `name` in the root directory, or nothing.
  std::optional<std::string> root_file(const std::string& name) const {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = root_->entries.find(name);
    if (it == root_->entries.end() || it->second->is_dir)
      return std::nullopt;
    return contents(*it->second);
  }

  /// Names in the root directory.
  std::vector<std::string> root_names() const {
    std::lock_guard<std::mutex> guard{mutex_};
    std::vector<std::string> out;
    for (auto& [name, n] : root_->entries)
      out.push_back(name);
    return out;
  }

  /// Flips bits of the byte at `offset` of the root file `name` on the
  /// disk itself: damage no crash causes (bit rot, a bad sector, a bug).
  bool damage(const std::string& name, uint64_t offset, char mask = 0x5a) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = root_->entries.find(name);
    if (it == root_->entries.end() || it->second->is_dir
        || offset >= it->second->size)
      return false;
    auto& f = *it->second;
    // Durable from here on: the damage is the disk's, not pending.
    sync_node(f);
    auto& page = f.pages[offset / page_bytes];
    if (page.empty())
      page.assign(page_bytes, '\0');
    page[offset % page_bytes] ^= mask;
    return true;
  }

  // -- file_env ------------------------------------------------------------------------

  int open_at(int dir_fd, const std::string& name, int flags,
              mode_t) override {
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return -EIO;
    if (dir_fd == AT_FDCWD)
      return name == root_path_ ? add_fd(root_) : -ENOENT;
    auto dir = dir_of(dir_fd);
    if (!dir)
      return -EBADF;
    if (name == "." && !(flags & O_CREAT))
      return add_fd(fds_[dir_fd]); // another descriptor of the directory
    if (name.empty() || name.find('/') != std::string::npos || name == "."
        || name == "..")
      return -EINVAL; // the backend opens one component at a time
    auto it = dir->entries.find(name);
    if (it == dir->entries.end()) {
      if (!(flags & O_CREAT) || dir->removed)
        return -ENOENT;
      if (!change())
        return -EIO;
      auto f = std::make_shared<node>();
      dir->entries[name] = f;
      dir->pending.push_back(dir_op{name, f, {}});
      return add_fd(f);
    }
    auto& target = it->second;
    if ((flags & O_CREAT) && (flags & O_EXCL))
      return -EEXIST;
    if ((flags & O_DIRECTORY) && !target->is_dir)
      return -ENOTDIR;
    if (target->is_dir && (flags & O_ACCMODE) != O_RDONLY)
      return -EISDIR;
    if ((flags & O_TRUNC) && !target->is_dir && target->size != 0) {
      if (!change())
        return -EIO;
      resize(*target, 0);
    }
    return add_fd(target);
  }

  int close(int fd) override {
    std::lock_guard<std::mutex> guard{mutex_};
    return fds_.erase(fd) == 1 ? 0 : -EBADF;
  }

  int mkdir_at(int dir_fd, const std::string& name) override {
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return -EIO;
    auto dir = dir_of(dir_fd);
    if (!dir)
      return -EBADF;
    if (dir->entries.count(name))
      return -EEXIST;
    if (dir->removed)
      return -ENOENT;
    if (!change())
      return -EIO;
    auto d = std::make_shared<node>();
    d->is_dir = true;
    dir->entries[name] = d;
    dir->pending.push_back(dir_op{name, d, {}});
    return 0;
  }

  int write_at(int fd, const void* data, size_t n, off_t offset) override {
    return on_file(fd, true, [&](node& f) {
      write(f, static_cast<const char*>(data), n,
            static_cast<uint64_t>(offset));
      return 0;
    });
  }

  int read_all(int fd, std::string& out) override {
    return on_file(fd, false, [&](node& f) {
      out = contents(f);
      return 0;
    });
  }

  long read_at(int fd, void* data, size_t n, off_t offset) override {
    return on_file(fd, false, [&](node& f) -> long {
      auto off = static_cast<uint64_t>(offset);
      if (off >= f.size)
        return 0;
      auto got = std::min<uint64_t>(n, f.size - off);
      auto out = static_cast<char*>(data);
      for (uint64_t i = 0; i < got;) {
        auto p = (off + i) / page_bytes;
        auto in_page = (off + i) % page_bytes;
        auto k = std::min<uint64_t>(page_bytes - in_page, got - i);
        auto it = f.pages.find(p);
        if (it == f.pages.end())
          std::memset(out + i, 0, k);
        else
          std::memcpy(out + i, it->second.data() + in_page, k);
        i += k;
      }
      return static_cast<long>(got);
    });
  }

  int file_size(int fd, uint64_t& out) override {
    return on_file(fd, false, [&](node& f) {
      out = f.size;
      return 0;
    });
  }

  int sync(int fd, bool) override {
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return -EIO;
    auto it = fds_.find(fd);
    if (it == fds_.end())
      return -EBADF;
    if (!change(true))
      return -EIO;
    sync_node(*it->second);
    return 0;
  }

  bool sync_fs_reports_errors() override { return true; } // simulated

  int sync_fs(int) override {
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return -EIO;
    if (!change(true))
      return -EIO;
    std::set<node*> seen;
    sync_tree(*root_, seen);
    for (auto& [fd, n] : fds_)
      sync_node(*n);
    return 0;
  }

  int truncate(int fd, off_t size) override {
    return on_file(fd, true, [&](node& f) {
      resize(f, static_cast<uint64_t>(size));
      return 0;
    });
  }

  int rename_at(int from_dir, const std::string& from, int to_dir,
                const std::string& to) override {
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return -EIO;
    auto src = dir_of(from_dir);
    auto dst = dir_of(to_dir);
    if (!src || !dst)
      return -EBADF;
    auto it = src->entries.find(from);
    if (it == src->entries.end() || dst->removed)
      return -ENOENT;
    if (!change())
      return -EIO;
    auto moved = it->second;
    if (src == dst) {
      // One directory: the rename is one atomic change of it.
      src->entries.erase(it);
      src->entries[to] = moved;
      src->pending.push_back(dir_op{to, moved, from});
      return 0;
    }
    src->entries.erase(it);
    src->pending.push_back(dir_op{from, nullptr, {}});
    dst->entries[to] = moved;
    dst->pending.push_back(dir_op{to, moved, {}});
    return 0;
  }

  int unlink_at(int dir_fd, const std::string& name, int flags) override {
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return -EIO;
    auto dir = dir_of(dir_fd);
    if (!dir)
      return -EBADF;
    auto it = dir->entries.find(name);
    if (it == dir->entries.end())
      return -ENOENT;
    bool rmdir = (flags & AT_REMOVEDIR) != 0;
    if (it->second->is_dir != rmdir)
      return rmdir ? -ENOTDIR : -EISDIR;
    if (rmdir && !it->second->entries.empty())
      return -ENOTEMPTY;
    if (!change())
      return -EIO;
    // As on Linux: nothing is made in a directory removed (ENOENT), even
    // through a descriptor still open on it.
    if (rmdir)
      it->second->removed = true;
    dir->entries.erase(it);
    dir->pending.push_back(dir_op{name, nullptr, {}});
    return 0;
  }

  int lock(int) override { return 0; }

  int list_dir(int dir_fd, std::vector<dir_entry>& out) override {
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return -EIO;
    auto dir = dir_of(dir_fd);
    if (!dir)
      return -EBADF;
    out.clear();
    for (auto& [name, n] : dir->entries)
      out.push_back(dir_entry{name, n->is_dir ? dir_entry::directory
                                              : dir_entry::file});
    return 0;
  }

private:
  struct node;

  /// One change of a directory since its last fsync: `name` now names
  /// `target` (nullptr: removed); a rename also removes `from`.
  struct dir_op {
    std::string name;
    std::shared_ptr<node> target;
    std::string from;
  };

  struct node {
    bool is_dir = false;
    // A file: its pages as the page cache has them (absent: zeros) and,
    // for each page changed since the last sync, what the disk holds
    // (nullopt: zeros).
    uint64_t size = 0;
    std::map<uint64_t, std::string> pages;
    uint64_t durable_size = 0;
    std::map<uint64_t, std::optional<std::string>> old_pages;
    // A directory: its entries now, as of its last fsync, and the changes
    // since, in order.
    std::map<std::string, std::shared_ptr<node>> entries;
    std::map<std::string, std::shared_ptr<node>> durable_entries;
    std::vector<dir_op> pending;
    bool removed = false; // rmdir'ed (until a crash brings it back)
  };

  /// What a crash does to every pending change: `mixed` decides page by
  /// page and keeps a random prefix of each directory's changes.
  enum class loss : uint8_t { none_kept, all_kept, mixed, mixed_again };

  void reboot(std::mt19937_64& rng, loss mode) {
    std::lock_guard<std::mutex> guard{mutex_};
    std::set<node*> seen;
    settle(*root_, mode, rng, seen);
    fds_.clear();
    crashed_ = false;
    crash_at_ = 0;
    sync_crash_at_ = 0;
  }

  /// Counts a change; false when the power fails at it (or failed before).
  bool change(bool is_sync = false) {
    if (crashed_)
      return false;
    ++changes_;
    if (crash_at_ != 0 && changes_ >= crash_at_)
      crashed_ = true;
    if (is_sync && sync_crash_at_ != 0 && ++syncs_ >= sync_crash_at_)
      crashed_ = true;
    else if (is_sync)
      ++syncs_;
    return !crashed_;
  }

  int add_fd(std::shared_ptr<node> n) {
    int fd = next_fd_++;
    fds_[fd] = std::move(n);
    return fd;
  }

  node* dir_of(int fd) {
    auto it = fds_.find(fd);
    return it != fds_.end() && it->second->is_dir ? it->second.get()
                                                  : nullptr;
  }

  node* file_of(int fd) {
    auto it = fds_.find(fd);
    return it != fds_.end() && !it->second->is_dir ? it->second.get()
                                                   : nullptr;
  }

  /// Runs `op` on the file open as `fd`, under the lock, after what every
  /// file call checks first: -EIO once the power failed, -EBADF for an fd
  /// that is no open file, and for a call that `changes` the file, -EIO
  /// when it is the crash point.
  template <class Op>
  auto on_file(int fd, bool changes, Op op)
    -> decltype(op(std::declval<node&>())) {
    using result = decltype(op(std::declval<node&>()));
    std::lock_guard<std::mutex> guard{mutex_};
    if (crashed_)
      return result{-EIO};
    auto f = file_of(fd);
    if (!f)
      return result{-EBADF};
    if (changes && !change())
      return result{-EIO};
    return op(*f);
  }

  /// (memcmp: megabytes of preallocated zeros pass through here, and a
  /// byte loop is slow in the -O0 sanitizer build.)
  static bool all_zero(const char* p, size_t n) {
    static const std::string zeros(page_bytes, '\0');
    for (size_t i = 0; i < n; i += page_bytes)
      if (std::memcmp(p + i, zeros.data(), std::min<size_t>(page_bytes, n - i))
          != 0)
        return false;
    return true;
  }

  /// Keeps what the disk holds of page `p` before the page cache's copy
  /// changes (once per sync interval: the first copy is the durable one).
  static void remember(node& f, uint64_t p) {
    if (f.old_pages.count(p))
      return;
    auto it = f.pages.find(p);
    f.old_pages.emplace(p, it == f.pages.end()
                             ? std::nullopt
                             : std::optional<std::string>{it->second});
  }

  static void write(node& f, const char* data, size_t n, uint64_t off) {
    for (size_t i = 0; i < n;) {
      auto p = (off + i) / page_bytes;
      auto in_page = (off + i) % page_bytes;
      auto k = std::min<uint64_t>(page_bytes - in_page, n - i);
      auto it = f.pages.find(p);
      // Zeros over a page of zeros change nothing (the preallocated tail:
      // megabytes that need no memory).
      if (it == f.pages.end() && all_zero(data + i, k)) {
        i += k;
        continue;
      }
      remember(f, p);
      if (it == f.pages.end())
        it = f.pages.emplace(p, std::string(page_bytes, '\0')).first;
      std::memcpy(it->second.data() + in_page, data + i, k);
      i += k;
    }
    f.size = std::max<uint64_t>(f.size, off + n);
  }

  /// Cuts or extends the file (with zeros).
  static void resize(node& f, uint64_t size) {
    if (size < f.size) {
      for (auto p = size / page_bytes; p * page_bytes < f.size; ++p)
        remember(f, p);
      clip(f, size);
    }
    f.size = size;
  }

  /// Zeros the bytes of the last page past `size`, drops pages past it.
  static void clip(node& f, uint64_t size) {
    auto last = size / page_bytes;
    f.pages.erase(f.pages.lower_bound(last + (size % page_bytes ? 1 : 0)),
                  f.pages.end());
    if (auto it = f.pages.find(last); it != f.pages.end() && size % page_bytes)
      std::memset(it->second.data() + size % page_bytes, 0,
                  page_bytes - size % page_bytes);
  }

  static std::string contents(const node& f) {
    std::string out;
    out.reserve(f.size);
    huge_pages(out.data(), f.size);
    out.resize(f.size);
    for (auto& [p, bytes] : f.pages) {
      auto start = p * page_bytes;
      if (start >= f.size)
        break;
      std::memcpy(out.data() + start, bytes.data(),
                  std::min<uint64_t>(page_bytes, f.size - start));
    }
    return out;
  }

  /// Asks for 2 MiB pages under a large buffer before it is first touched:
  /// a preallocated log is read whole at every recovery, and in the
  /// sanitizer build each of its 4 KiB pages is a fresh page fault.
  static void huge_pages(char* p, size_t n) {
    constexpr uintptr_t huge = 2u << 20;
    auto begin = (reinterpret_cast<uintptr_t>(p) + huge - 1) & ~(huge - 1);
    auto end = (reinterpret_cast<uintptr_t>(p) + n) & ~(huge - 1);
    if (end > begin)
      ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }

  static void sync_node(node& n) {
    if (n.is_dir) {
      n.durable_entries = n.entries;
      n.pending.clear();
    } else {
      n.durable_size = n.size;
      n.old_pages.clear();
    }
  }

  static void sync_tree(node& n, std::set<node*>& seen) {
    if (!seen.insert(&n).second)
      return;
    sync_node(n);
    for (auto& [name, child] : n.entries)
      sync_tree(*child, seen);
  }

  // -- the crash ---------------------------------------------------------------------

  /// Applies the loss to `n` and everything it still names, once each.
  void settle(node& n, loss mode, std::mt19937_64& rng,
              std::set<node*>& seen) {
    if (!seen.insert(&n).second)
      return;
    n.removed = false; // named again: its rmdir did not reach the disk
    if (n.is_dir) {
      settle_dir(n, mode, rng);
      for (auto& [name, child] : n.entries)
        settle(*child, mode, rng, seen);
    } else {
      settle_file(n, mode, rng);
    }
  }

  static void settle_dir(node& d, loss mode, std::mt19937_64& rng) {
    size_t kept = mode == loss::none_kept  ? 0
                  : mode == loss::all_kept ? d.pending.size()
                                           : rng() % (d.pending.size() + 1);
    auto entries = d.durable_entries;
    for (size_t i = 0; i < kept; ++i) {
      auto& op = d.pending[i];
      if (!op.from.empty())
        entries.erase(op.from);
      if (op.target)
        entries[op.name] = op.target;
      else
        entries.erase(op.name);
    }
    d.entries = entries;
    d.durable_entries = std::move(entries);
    d.pending.clear();
  }

  void settle_file(node& f, loss mode, std::mt19937_64& rng) {
    bool shrunk = f.size < f.durable_size;
    // A truncation reaches the disk whole or not at all: its cut pages
    // never read back as zeros under the old size.
    if (shrunk && mode != loss::all_kept && rng() % 2)
      mode = loss::none_kept;
    uint64_t size = mode == loss::none_kept  ? f.durable_size
                    : mode == loss::all_kept || shrunk
                      ? f.size
                      : pick_size(f.durable_size, f.size, rng);
    for (auto& [p, old] : f.old_pages) {
      auto choice = mode == loss::none_kept  ? 0u
                    : mode == loss::all_kept ? 1u
                                             : static_cast<unsigned>(rng() % 4);
      settle_page(f, p, old, choice, rng);
    }
    clip(f, size);
    f.size = size;
    f.durable_size = size;
    f.old_pages.clear();
  }

  /// The size after a crash: the synced one, the current one, or a page
  /// boundary between them (size changes reach the disk with the data).
  static uint64_t pick_size(uint64_t lo, uint64_t hi, std::mt19937_64& rng) {
    auto first = (lo + page_bytes - 1) / page_bytes;
    auto last = hi / page_bytes;
    switch (rng() % 3) {
      case 0:
        return lo;
      case 1:
        return hi;
      default:
        if (first > last || last * page_bytes == hi)
          return hi;
        return (first + rng() % (last - first + 1)) * page_bytes;
    }
  }

  /// 0: the old page, 1: the new one, 2: zeros past what was synced (an
  /// allocated block that was never written), 3: torn by sector.
  void settle_page(node& f, uint64_t p, const std::optional<std::string>& old,
                   unsigned choice, std::mt19937_64& rng) {
    std::string before = old ? *old : std::string(page_bytes, '\0');
    auto it = f.pages.find(p);
    std::string after = it == f.pages.end() ? std::string(page_bytes, '\0')
                                            : it->second;
    std::string result;
    switch (choice) {
      case 0:
        result = before;
        break;
      case 1:
        result = after;
        break;
      case 2: {
        result = before;
        auto start = p * page_bytes;
        for (uint64_t i = 0; i < page_bytes; ++i)
          if (start + i >= f.durable_size)
            result[i] = '\0';
        break;
      }
      default:
        result = before;
        for (uint64_t s = 0; s < page_bytes; s += sector_bytes)
          if (rng() % 2)
            std::memcpy(result.data() + s, after.data() + s, sector_bytes);
    }
    if (all_zero(result.data(), result.size()))
      f.pages.erase(p);
    else
      f.pages[p] = std::move(result);
  }

  mutable std::mutex mutex_;
  std::string root_path_;
  std::shared_ptr<node> root_;
  std::map<int, std::shared_ptr<node>> fds_;
  int next_fd_ = 1000;
  uint64_t changes_ = 0;
  uint64_t crash_at_ = 0;
  uint64_t syncs_ = 0;
  uint64_t sync_crash_at_ = 0;
  bool crashed_ = false;
};

} // namespace solver_state::testing
