// The file-per-key tree under base_path: durable temp-write/fsync/rename of
// value files, O_NOFOLLOW path walks, and the start-up scan of every value.

#include "backends/file/tree.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <numeric>
#include <set>

#include <spdlog/spdlog.h>

#include "backends/file/layout.hpp"
#include "backends/file/value.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

constexpr int dir_flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
constexpr int write_flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW;

/// How often a walk starts again when directories on its way are removed
/// as it makes them (each time another fold emptied them): more is a bug.
constexpr int vanish_attempts = 64;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Keeps the directory chain of the last path open, so sorted changes that
/// share directories open each one once. With sync_dirs, a directory that
/// gained or lost an entry is fsynced before it is left.
class dir_walker {
public:
  dir_walker(file_env& env, int root, const std::string& root_path,
             bool sync_dirs)
    : env_(env), root_(root), root_path_(root_path), sync_dirs_(sync_dirs) {}

  /// Opens path[0..depth), creating missing directories when `create`.
  /// Returns the fd of the innermost one, or -1 when one is missing and
  /// !create. A fold removes the directories it emptied (file_tree::
  /// remove_emptied_dirs), and another shard's fold may do so while this
  /// walk holds one open: a mkdir in it then fails with ENOENT, and the
  /// walk starts again from the root, creating what is missing.
  caf::expected<int> enter(const std::vector<std::string>& path, size_t depth,
                           bool create) {
    for (int attempt = 1;; ++attempt) {
      auto fd = descend(path, depth, create);
      if (!fd || *fd != vanished)
        return fd;
      if (attempt == vanish_attempts)
        return make_state_error(state_errc::io_error,
                                "cannot create directory "
                                  + where(path, depth - 1)
                                  + ": directories on its way keep being "
                                    "removed as they are made");
      if (auto err = restart())
        return err;
    }
  }

  /// Leaves every directory but the root (syncing the changed ones): the
  /// next enter() opens each again from the root.
  caf::error restart() {
    while (!chain_.empty())
      if (auto err = leave())
        return err;
    return {};
  }

  /// Every directory of the chain, and the root, are synced as they are
  /// left (with sync_dirs), whether or not this walk changed them: their
  /// entries must be durable before what is written below them is relied
  /// on, and the walk may be using a directory that another shard's fold
  /// has just made and not synced yet (dir_walker syncs what it makes as
  /// it leaves it, and that fold may not have left it yet).
  void mark_path_dirty() {
    root_dirty_ = true;
    for (auto& level : chain_)
      level.dirty = true;
  }

  /// The current directory gained or lost an entry.
  void mark_dirty() {
    if (chain_.empty())
      root_dirty_ = true;
    else
      chain_.back().dirty = true;
  }

  /// Leaves every directory (syncing the changed ones).
  caf::error finish() {
    while (!chain_.empty())
      if (auto err = leave())
        return err;
    if (sync_dirs_ && root_dirty_) {
      root_dirty_ = false;
      if (int rc = env_.sync(root_, false); rc != 0)
        return io_failure("cannot sync directory", root_path_, rc);
    }
    return {};
  }

  std::string where(const std::vector<std::string>& path, size_t depth) const {
    std::vector<std::string> head(path.begin(), path.begin() + depth + 1);
    return root_path_ + "/" + join_path(head);
  }

private:
  struct level {
    std::string name;
    unique_fd fd;
    bool dirty;
  };

  int current() const { return chain_.empty() ? root_ : chain_.back().fd.get(); }

  /// What descend() returns when a directory it holds open, or has just
  /// made, was removed meanwhile.
  static constexpr int vanished = -2;

  /// enter() in one pass from the chain held open: the innermost fd, -1
  /// for a directory missing (!create), or vanished.
  caf::expected<int> descend(const std::vector<std::string>& path,
                             size_t depth, bool create) {
    size_t common = 0;
    while (common < chain_.size() && common < depth
           && chain_[common].name == path[common])
      ++common;
    while (chain_.size() > common)
      if (auto err = leave())
        return err;
    for (size_t i = common; i < depth; ++i) {
      // key_to_path never makes these; a path that has one names another
      // key's directory (or leaves base_path).
      if (path[i].empty() || path[i] == "." || path[i] == "..")
        return make_state_error(state_errc::io_error,
                                "refusing the path component '" + path[i]
                                  + "' in " + where(path, i));
      int parent = current();
      int fd = env_.open_at(parent, path[i], dir_flags);
      if (fd == -ENOENT && create) {
        int rc = env_.mkdir_at(parent, path[i]);
        // The parent, emptied, was removed since this walk opened it (the
        // root never is: that ENOENT is an error).
        if (rc == -ENOENT && !chain_.empty())
          return vanished;
        if (rc != 0 && rc != -EEXIST)
          return io_failure("cannot create directory", where(path, i), rc);
        mark_dirty();
        fd = env_.open_at(parent, path[i], dir_flags);
        if (fd == -ENOENT)
          return vanished; // removed, empty, between its mkdir and this open
      }
      if (fd == -ENOENT)
        return -1;
      if (fd == -ELOOP || fd == -ENOTDIR)
        return make_state_error(state_errc::io_error,
                                "refusing to follow " + where(path, i)
                                  + ": not a directory (symlinks inside "
                                    "base_path are never followed)");
      if (fd < 0)
        return io_failure("cannot open directory", where(path, i), fd);
      chain_.push_back(level{path[i], unique_fd{&env_, fd}, false});
    }
    return current();
  }

  caf::error leave() {
    auto& top = chain_.back();
    caf::error err;
    if (sync_dirs_ && top.dirty)
      if (int rc = env_.sync(top.fd.get(), false); rc != 0)
        err = io_failure("cannot sync directory", top.name, rc);
    chain_.pop_back();
    return err;
  }

  file_env& env_;
  int root_;
  const std::string& root_path_;
  bool sync_dirs_;
  bool root_dirty_ = false;
  std::vector<level> chain_;
};

/// Writes `bytes` into the temp file `name` of `dir`, just created as
/// `fd`, and syncs it when `sync`; on failure removes it.
caf::error fill_temp(file_env& env, int dir, const std::string& name,
                     unique_fd fd, const std::string& bytes, bool sync,
                     const std::string& where) {
  int rc = env.write_at(fd.get(), bytes.data(), bytes.size(), 0);
  if (rc == 0 && sync)
    if (rc = env.sync(fd.get(), true); rc != 0) {
      fd.reset();
      env.unlink_at(dir, name);
      return io_failure("cannot sync", where, rc);
    }
  if (rc != 0) {
    fd.reset();
    env.unlink_at(dir, name); // its blocks back, on a full disk above all
    return io_failure("cannot write", where, rc);
  }
  return {};
}

caf::error write_temp(file_env& env, int dir, const std::string& name,
                      const std::string& bytes, bool sync,
                      const std::string& where) {
  int fd = env.open_at(dir, name, write_flags);
  if (fd < 0)
    return io_failure("cannot create", where, fd);
  return fill_temp(env, dir, name, unique_fd{&env, fd}, bytes, sync, where);
}

/// Writes `bytes` into the temp file of `path` (key_to_path) in the
/// directory the walker enters for it, creating what is missing; that
/// directory's fd. Another shard's fold may remove the directory, emptied,
/// between the walk opening it and the create (ENOENT): the walk starts
/// again from the root.
caf::expected<int> write_temp_of(file_env& env, dir_walker& walker,
                                 const std::vector<std::string>& path,
                                 const std::string& bytes, bool sync) {
  auto where = walker.where(path, path.size() - 1);
  auto name = temp_name(path.back());
  for (int attempt = 1;; ++attempt) {
    auto dir = walker.enter(path, path.size() - 1, true);
    if (!dir)
      return std::move(dir.error());
    int fd = env.open_at(*dir, name, write_flags);
    if (fd == -ENOENT && attempt < vanish_attempts) {
      if (auto err = walker.restart())
        return err;
      continue;
    }
    if (fd < 0)
      return io_failure("cannot create", where, fd);
    if (auto err = fill_temp(env, *dir, name, unique_fd{&env, fd}, bytes,
                             sync, where))
      return err;
    return *dir;
  }
}

} // namespace

file_tree::file_tree(std::shared_ptr<file_env> env, int root_fd,
                     std::string root_path)
  : env_(std::move(env)), root_fd_(root_fd), root_path_(std::move(root_path)) {
}

caf::expected<entry> file_tree::read(const std::string& key) const {
  auto path = key_to_path(key);
  dir_walker walker{*env_, root_fd_, root_path_, false};
  auto dir = walker.enter(path, path.size() - 1, false);
  if (!dir)
    return std::move(dir.error());
  auto where = walker.where(path, path.size() - 1);
  if (*dir < 0)
    return make_state_error(state_errc::not_found, "no value file " + where);
  int fd = env_->open_at(*dir, path.back(), O_RDONLY | O_NOFOLLOW);
  if (fd == -ENOENT)
    return make_state_error(state_errc::not_found, "no value file " + where);
  if (fd < 0)
    return io_failure("cannot open", where, fd);
  unique_fd guard{env_.get(), fd};
  std::string bytes;
  if (int rc = env_->read_all(fd, bytes); rc != 0)
    return io_failure("cannot read", where, rc);
  return decode_value_file(bytes, where);
}

namespace {

bool cancelled(const std::atomic<bool>* cancel) {
  return cancel && cancel->load(std::memory_order_relaxed);
}

/// A symlink inside base_path is never followed: the walk stops, naming it.
caf::error symlink_refused(const std::string& path) {
  return make_state_error(state_errc::backend_error,
                          "refusing symlink " + path
                            + " inside base_path (remove it)");
}

/// Opens the directory `name` in `dir` (not through a symlink).
caf::expected<unique_fd> open_subdir(file_env& env, int dir,
                                     const std::string& name,
                                     const std::string& path) {
  int fd = env.open_at(dir, name, dir_flags);
  if (fd < 0)
    return io_failure("cannot open directory", path, fd);
  return unique_fd{&env, fd};
}

caf::error cancelled_error() {
  return make_state_error(state_errc::backend_unavailable,
                          "fold cancelled: the store is closing");
}

} // namespace

caf::error file_tree::apply(std::vector<tree_change> changes,
                            const std::atomic<bool>* cancel) const {
  if (changes.empty())
    return {};
  std::vector<std::vector<std::string>> paths;
  paths.reserve(changes.size());
  for (auto& c : changes)
    paths.push_back(key_to_path(*c.key));
  // Sorted by path, so the walker opens each directory once.
  std::vector<size_t> order(changes.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return paths[a] < paths[b]; });
  std::vector<tree_change> sorted_changes;
  std::vector<std::vector<std::string>> sorted_paths;
  for (auto i : order) {
    sorted_changes.push_back(changes[i]);
    sorted_paths.push_back(std::move(paths[i]));
  }
  if (sorted_changes.size() > batch_threshold && env_->sync_fs_reports_errors())
    return apply_batched(sorted_changes, sorted_paths, cancel);
  return apply_one_by_one(sorted_changes, sorted_paths, cancel);
}

caf::error file_tree::apply_one_by_one(
  const std::vector<tree_change>& changes,
  const std::vector<std::vector<std::string>>& paths,
  const std::atomic<bool>* cancel) const {
  dir_walker walker{*env_, root_fd_, root_path_, true};
  for (size_t i = 0; i < changes.size(); ++i) {
    if (cancelled(cancel)) {
      // What is renamed is whole: only its directories wait for a sync.
      if (auto err = walker.finish())
        return err;
      return cancelled_error();
    }
    auto& path = paths[i];
    auto& leaf = path.back();
    auto where = walker.where(path, path.size() - 1);
    if (!changes[i].data) {
      auto dir = walker.enter(path, path.size() - 1, false);
      if (!dir)
        return std::move(dir.error());
      if (*dir < 0)
        continue; // removing a key whose directory is not there
      int rc = env_->unlink_at(*dir, leaf);
      if (rc != 0 && rc != -ENOENT)
        return io_failure("cannot remove", where, rc);
      if (rc == 0)
        walker.mark_dirty();
      continue;
    }
    auto dir = write_temp_of(*env_, walker, path,
                             encode_value_file(*changes[i].data), true);
    if (!dir)
      return std::move(dir.error());
    // Each directory on its way synced once per fold (the changes are
    // sorted): a handful of syncs, where a batched fold's syncfs covers
    // them all.
    walker.mark_path_dirty();
    // Its temp file keeps the directory from being removed from here on.
    auto tmp = temp_name(leaf);
    if (int rc = env_->rename_at(*dir, tmp, *dir, leaf); rc != 0) {
      env_->unlink_at(*dir, tmp);
      return io_failure("cannot rename into", where, rc);
    }
    walker.mark_dirty();
  }
  if (auto err = walker.finish())
    return err;
  return remove_emptied_dirs(changes, paths, true);
}

caf::error file_tree::apply_batched(
  const std::vector<tree_change>& changes,
  const std::vector<std::vector<std::string>>& paths,
  const std::atomic<bool>* cancel) const {
  // syncfs reports a writeback error once per open file description, and
  // every shard's tree shares the root's: another shard's syncfs could take
  // the error of this fold's files, and this one would rename them in and
  // retire their log. A descriptor of this fold's own, opened before its
  // first write, sees every error from then on.
  auto barrier = open_subdir(*env_, root_fd_, ".", root_path_);
  if (!barrier)
    return std::move(barrier.error());
  // Pass 1: every new file under its temp name; one barrier for all of them.
  {
    dir_walker walker{*env_, root_fd_, root_path_, false};
    for (size_t i = 0; i < changes.size(); ++i) {
      if (cancelled(cancel)) {
        // The temp files stay: unlinking a fold's worth (150k measured)
        // took a stop 35 s. The next fold overwrites them, the next start's
        // scan removes them.
        walker.finish();
        return cancelled_error();
      }
      if (!changes[i].data)
        continue;
      auto written = write_temp_of(*env_, walker, paths[i],
                                   encode_value_file(*changes[i].data),
                                   false);
      if (!written) {
        walker.finish();
        remove_temps(changes, paths, 0, i);
        return std::move(written.error());
      }
    }
    if (auto err = walker.finish()) {
      remove_temps(changes, paths, 0, changes.size());
      return err;
    }
  }
  if (cancelled(cancel)) // a syncfs of a fold's files takes seconds
    return cancelled_error();
  if (int rc = env_->sync_fs(barrier->get()); rc != 0) {
    remove_temps(changes, paths, 0, changes.size());
    return io_failure("cannot sync filesystem of", root_path_, rc);
  }
  // Pass 2: renames and removals, then a second barrier for the directories.
  // A stop may cut it short too: each key is old or new, and the log that
  // made the change stays until a fold completes.
  {
    dir_walker walker{*env_, root_fd_, root_path_, false};
    for (size_t i = 0; i < changes.size(); ++i) {
      if (cancelled(cancel)) {
        walker.finish();
        return cancelled_error();
      }
      auto& path = paths[i];
      auto& leaf = path.back();
      bool removing = changes[i].data == nullptr;
      auto dir = walker.enter(path, path.size() - 1, false);
      if (!dir) {
        walker.finish();
        remove_temps(changes, paths, i, changes.size());
        return std::move(dir.error());
      }
      auto where = walker.where(path, path.size() - 1);
      if (*dir < 0) {
        if (removing)
          continue; // nothing to remove
        // Its temp file went with it (a hand tidying the tree): skipped, the
        // fold would retire the log of a value that is nowhere else, and
        // its index would name a missing file.
        walker.finish();
        remove_temps(changes, paths, i, changes.size());
        return make_state_error(state_errc::io_error,
                                "cannot rename into " + where
                                  + ": its directory vanished after the "
                                    "fold wrote its temp file there");
      }
      int rc = removing ? env_->unlink_at(*dir, leaf)
                        : env_->rename_at(*dir, temp_name(leaf), *dir, leaf);
      if (rc != 0 && !(removing && rc == -ENOENT)) {
        walker.finish();
        remove_temps(changes, paths, i, changes.size());
        return io_failure(removing ? "cannot remove" : "cannot rename into",
                          where, rc);
      }
    }
    if (auto err = walker.finish())
      return err;
  }
  // Made durable by the barrier below.
  if (auto err = remove_emptied_dirs(changes, paths, false))
    return err;
  if (cancelled(cancel))
    return cancelled_error();
  if (int rc = env_->sync_fs(barrier->get()); rc != 0)
    return io_failure("cannot sync filesystem of", root_path_, rc);
  return {};
}

caf::error file_tree::remove_emptied_dirs(
  const std::vector<tree_change>& changes,
  const std::vector<std::vector<std::string>>& paths, bool sync) const {
  // The directories of the removed keys, each once. Descending, a
  // directory comes after every one below it, so it is tried once they
  // are gone, and the walker enters each parent once for all its children.
  std::set<std::vector<std::string>> dirs;
  for (size_t i = 0; i < changes.size(); ++i)
    if (!changes[i].data)
      for (size_t depth = paths[i].size() - 1; depth > 0; --depth)
        dirs.emplace(paths[i].begin(), paths[i].begin() + depth);
  if (dirs.empty())
    return {};
  std::set<std::vector<std::string>> holding; // ancestors of one kept
  dir_walker walker{*env_, root_fd_, root_path_, sync};
  size_t failed = 0;
  caf::error first_failure;
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    auto& dir = *it;
    // base_path itself is never a candidate (depth > 0 above), nor are the
    // store's own files and directories ('~' never starts a key's).
    if (holding.count(dir) != 0 || (dir.size() == 1 && is_backend_file(dir[0])))
      continue;
    auto parent = walker.enter(dir, dir.size() - 1, false);
    if (!parent) {
      walker.finish();
      return std::move(parent.error());
    }
    if (*parent < 0)
      continue; // gone already, with its parent
    int rc = env_->unlink_at(*parent, dir.back(), AT_REMOVEDIR);
    if (rc == 0) {
      walker.mark_dirty();
      continue;
    }
    if (rc == -ENOENT)
      continue; // removed already (by another shard's fold, or before a crash)
    // Not empty (a key of this or another shard, a temp file): so are its
    // ancestors. Any other failure costs an empty directory, not a value.
    for (size_t depth = 1; depth < dir.size(); ++depth)
      holding.emplace(dir.begin(), dir.begin() + depth);
    if (rc != -ENOTEMPTY && rc != -EEXIST && failed++ == 0)
      first_failure = io_failure("cannot remove emptied directory",
                                 shown(dir), rc);
  }
  if (failed > 0)
    spdlog::warn("file backend: {} (and {} more emptied directories kept); "
                 "they only take room",
                 message_of(first_failure), failed - 1);
  return walker.finish();
}

void file_tree::remove_temps(
  const std::vector<tree_change>& changes,
  const std::vector<std::vector<std::string>>& paths, size_t from,
  size_t to) const {
  dir_walker walker{*env_, root_fd_, root_path_, false};
  for (size_t i = from; i < to; ++i) {
    if (!changes[i].data)
      continue;
    auto& path = paths[i];
    auto dir = walker.enter(path, path.size() - 1, false);
    if (dir && *dir >= 0)
      env_->unlink_at(*dir, temp_name(path.back()));
  }
  walker.finish();
}

caf::error file_tree::write_root_file(const std::string& name,
                                      const std::string& bytes) const {
  auto where = root_path_ + "/" + name;
  auto tmp = temp_name(name);
  if (auto err = write_temp(*env_, root_fd_, tmp, bytes, true, where))
    return err;
  if (int rc = env_->rename_at(root_fd_, tmp, root_fd_, name); rc != 0)
    return io_failure("cannot rename into", where, rc);
  if (int rc = env_->sync(root_fd_, false); rc != 0)
    return io_failure("cannot sync directory", root_path_, rc);
  return {};
}

caf::error file_tree::scan(
  const std::function<caf::error(std::string key, entry e)>& visit,
  const quarantine_visitor& quarantined) const {
  std::vector<std::string> where;
  return scan_dir(root_fd_, where, visit, quarantined);
}

caf::error file_tree::remove_temp_files() const {
  return remove_temps_in(root_fd_, root_path_);
}

caf::error
file_tree::remove_temps_of(const std::vector<std::string>& keys,
                           const std::atomic<bool>* cancel) const {
  std::vector<std::vector<std::string>> paths;
  paths.reserve(keys.size());
  for (auto& key : keys)
    paths.push_back(key_to_path(key));
  std::sort(paths.begin(), paths.end()); // each directory opened once
  // Each directory a file left is synced as the walker leaves it: the
  // caller's mark, which names these files, may go once this returns.
  dir_walker walker{*env_, root_fd_, root_path_, true};
  for (auto& path : paths) {
    if (cancelled(cancel)) {
      walker.finish();
      return cancelled_error();
    }
    auto dir = walker.enter(path, path.size() - 1, false);
    if (!dir) {
      walker.finish();
      return std::move(dir.error());
    }
    if (*dir < 0)
      continue; // its directory was never made: nor was its temp file
    auto temp = temp_name(path.back());
    int rc = env_->unlink_at(*dir, temp);
    if (rc == 0)
      walker.mark_dirty();
    else if (rc != -ENOENT) {
      auto where = temp_name(walker.where(path, path.size() - 1));
      walker.finish();
      return io_failure("cannot remove", where, rc);
    }
  }
  return walker.finish();
}

caf::error file_tree::remove_temps_in(int dir_fd,
                                      const std::string& here) const {
  std::vector<dir_entry> entries;
  if (int rc = env_->list_dir(dir_fd, entries); rc != 0)
    return io_failure("cannot list", here, rc);
  bool at_root = dir_fd == root_fd_;
  for (auto& e : entries) {
    auto path = here + "/" + e.name;
    if (at_root && is_backend_file(e.name))
      continue;
    if (e.kind == dir_entry::symlink)
      return symlink_refused(path);
    if (e.kind == dir_entry::directory) {
      auto sub = open_subdir(*env_, dir_fd, e.name, path);
      if (!sub)
        return std::move(sub.error());
      int fd = sub->get();
      if (auto err = remove_temps_in(fd, path))
        return err;
      continue;
    }
    if (e.kind == dir_entry::file && ends_with(e.name, "~tmp"))
      if (int rc = env_->unlink_at(dir_fd, e.name); rc != 0 && rc != -ENOENT)
        return io_failure("cannot remove", path, rc);
  }
  return {};
}

caf::expected<std::vector<std::string>>
file_tree::quarantine(const std::string& key) const {
  return quarantine_path(key_to_path(key));
}

std::string file_tree::shown(const std::vector<std::string>& path) const {
  return root_path_ + "/" + join_path(path);
}

caf::error file_tree::settle(const std::vector<std::string>& file) const {
  dir_walker walker{*env_, root_fd_, root_path_, true};
  auto dir = walker.enter(file, file.size() - 1, false);
  if (!dir)
    return std::move(dir.error());
  if (*dir < 0)
    return {};
  auto& leaf = file.back();
  // Never over an earlier settled file of the same key: kept means kept.
  auto settled = leaf + ".settled";
  for (int n = 1;; ++n) {
    int fd = env_->open_at(*dir, settled, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
      break;
    env_->close(fd);
    settled = leaf + ".settled." + std::to_string(n);
  }
  int rc = env_->rename_at(*dir, leaf, *dir, settled);
  if (rc != 0 && rc != -ENOENT)
    return io_failure("cannot rename", shown(file), rc);
  walker.mark_dirty();
  return walker.finish();
}

caf::error file_tree::scan_quarantine(
  const std::function<void(std::string, std::vector<std::string>)>& visit)
  const {
  int fd = env_->open_at(root_fd_, quarantine_dir, dir_flags);
  if (fd == -ENOENT)
    return {};
  if (fd < 0)
    return io_failure("cannot open directory", shown({quarantine_dir}), fd);
  unique_fd guard{env_.get(), fd};
  std::vector<std::string> where;
  return scan_quarantine_dir(fd, where, visit);
}

caf::error file_tree::scan_quarantine_dir(
  int dir_fd, std::vector<std::string>& where,
  const std::function<void(std::string, std::vector<std::string>)>& visit)
  const {
  std::vector<dir_entry> entries;
  std::vector<std::string> here{quarantine_dir};
  here.insert(here.end(), where.begin(), where.end());
  if (int rc = env_->list_dir(dir_fd, entries); rc != 0)
    return io_failure("cannot list", shown(here), rc);
  for (auto& e : entries) {
    if (e.kind == dir_entry::directory) {
      int fd = env_->open_at(dir_fd, e.name, dir_flags);
      if (fd < 0)
        return io_failure("cannot open directory", shown(here), fd);
      unique_fd guard{env_.get(), fd};
      where.push_back(e.name);
      auto err = scan_quarantine_dir(fd, where, visit);
      where.pop_back();
      if (err)
        return err;
      continue;
    }
    if (e.kind != dir_entry::file || ends_with(e.name, ".settled"))
      continue;
    // NAME.val, or NAME.val.N for a later file of the same key.
    auto leaf = e.name;
    if (auto dot = leaf.rfind('.'); dot != std::string::npos && dot + 1 < leaf.size()
        && leaf.find_first_not_of("0123456789", dot + 1) == std::string::npos)
      leaf.erase(dot);
    where.push_back(leaf);
    auto key = path_to_key(where);
    where.pop_back();
    if (!key)
      continue;
    auto file = here;
    file.push_back(e.name);
    visit(std::move(*key), std::move(file));
  }
  return {};
}

caf::expected<std::vector<std::string>>
file_tree::quarantine_path(const std::vector<std::string>& path) const {
  dir_walker from{*env_, root_fd_, root_path_, true};
  auto source = from.enter(path, path.size() - 1, false);
  if (!source)
    return std::move(source.error());
  if (*source < 0)
    return make_state_error(state_errc::not_found,
                            "no value file " + from.where(path, path.size() - 1));
  std::vector<std::string> target{quarantine_dir};
  target.insert(target.end(), path.begin(), path.end());
  dir_walker to{*env_, root_fd_, root_path_, true};
  auto dest = to.enter(target, target.size() - 1, true);
  if (!dest)
    return std::move(dest.error());
  auto& leaf = target.back();
  for (int n = 1;; ++n) {
    int fd = env_->open_at(*dest, leaf, O_RDONLY | O_NOFOLLOW);
    if (fd == -ENOENT)
      break;
    if (fd >= 0)
      env_->close(fd);
    leaf = path.back() + "." + std::to_string(n);
  }
  if (int rc = env_->rename_at(*source, path.back(), *dest, leaf); rc != 0)
    return io_failure("cannot move into " + shown(target),
                      from.where(path, path.size() - 1), rc);
  from.mark_dirty();
  to.mark_dirty();
  if (auto err = to.finish())
    return err;
  if (auto err = from.finish())
    return err;
  return target;
}

caf::error file_tree::scan_dir(
  int dir_fd, std::vector<std::string>& where,
  const std::function<caf::error(std::string, entry)>& visit,
  const quarantine_visitor& quarantined) const {
  std::vector<dir_entry> entries;
  auto here = root_path_ + (where.empty() ? "" : "/" + join_path(where));
  if (int rc = env_->list_dir(dir_fd, entries); rc != 0)
    return io_failure("cannot list", here, rc);
  for (auto& e : entries) {
    auto path = here + "/" + e.name;
    if (where.empty() && is_backend_file(e.name))
      continue;
    if (e.kind == dir_entry::symlink)
      return symlink_refused(path);
    if (e.kind == dir_entry::directory) {
      auto sub = open_subdir(*env_, dir_fd, e.name, path);
      if (!sub)
        return std::move(sub.error());
      int fd = sub->get();
      where.push_back(e.name);
      auto err = scan_dir(fd, where, visit, quarantined);
      where.pop_back();
      if (err)
        return err;
      continue;
    }
    if (e.kind != dir_entry::file) {
      spdlog::warn("file backend: ignoring {} (not a regular file)", path);
      continue;
    }
    if (ends_with(e.name, "~tmp")) {
      // A checkpoint stopped before its rename; the log still holds the value.
      if (int rc = env_->unlink_at(dir_fd, e.name); rc != 0 && rc != -ENOENT)
        return io_failure("cannot remove", path, rc);
      continue;
    }
    where.push_back(e.name);
    auto key = path_to_key(where);
    where.pop_back();
    if (!key) {
      spdlog::warn("file backend: ignoring {} (not a key's file)", path);
      continue;
    }
    int fd = env_->open_at(dir_fd, e.name, O_RDONLY | O_NOFOLLOW);
    if (fd < 0)
      return io_failure("cannot open", path, fd);
    unique_fd guard{env_.get(), fd};
    std::string bytes;
    if (int rc = env_->read_all(fd, bytes); rc != 0)
      return io_failure("cannot read", path, rc);
    auto value = decode_value_file(bytes, path);
    if (!value && quarantined) {
      // One bad file costs its key, not the store: moved aside, kept.
      where.push_back(e.name);
      auto moved = quarantine_path(where);
      where.pop_back();
      if (!moved)
        return std::move(moved.error());
      quarantined(std::move(*key), std::move(*moved),
                  message_of(value.error()));
      continue;
    }
    if (!value)
      return std::move(value.error());
    if (auto err = visit(std::move(*key), std::move(*value)))
      return err;
  }
  return {};
}

} // namespace solver_state
