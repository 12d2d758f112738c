#pragma once

// The file-per-key tree under base_path (layout in layout.hpp). Every
// path is opened one component at a time, relative to its parent's fd, with
// O_NOFOLLOW: a symlink planted anywhere inside base_path is refused, never
// followed, so no key can reach a file outside it.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/file/env.hpp"
#include "messages/values.hpp"

namespace solver_state {

/// A key whose value file failed its checks: what happened, and its files
/// in quarantine (paths relative to the root, quarantine_dir first). They
/// stay there for good; settle() renames one "NAME.settled" once the key is
/// written or deleted, so that the next start no longer counts it.
struct quarantine_record {
  std::string what;
  std::vector<std::vector<std::string>> files;
};

/// One key to fold into the tree: its new contents, or nullptr to remove it.
struct tree_change {
  const std::string* key;
  const entry* data;
};

class file_tree {
public:
  /// Above this many changes, apply() orders its writes with two syncfs
  /// barriers instead of one fsync per file and directory, where syncfs
  /// reports the writeback errors of the files (file_env::
  /// sync_fs_reports_errors; elsewhere every file is synced on its own).
  static constexpr size_t batch_threshold = 32;

  file_tree(std::shared_ptr<file_env> env, int root_fd, std::string root_path);

  /// The value file of `key`: not_found when there is none, io_error when it
  /// cannot be read, backend_error when it is corrupt.
  caf::expected<entry> read(const std::string& key) const;

  /// Makes `changes` durable: each file is written to a temp name, synced,
  /// renamed over the old one, and its directory synced; the directories
  /// that removals emptied are removed (remove_emptied_dirs). A failure leaves
  /// every key either old or new (never torn) and no temp file; the caller
  /// retries later. When `cancel` turns true it stops before the next file
  /// or barrier (backend_unavailable), every key old or new too, but its
  /// temp files left for the next fold to overwrite or the next start's
  /// scan to remove: a stop must not wait for thousands of unlinks.
  caf::error apply(std::vector<tree_change> changes,
                   const std::atomic<bool>* cancel = nullptr) const;

  /// Replaces the backend file `name` at the root the same durable way.
  caf::error write_root_file(const std::string& name,
                             const std::string& bytes) const;

  /// Where value files that fail their checks are moved, under the root.
  /// Its '~' keeps it apart from every key's path.
  static constexpr const char* quarantine_dir = "~quarantine";

  /// A value file a scan moved into quarantine_dir: its key, where it went
  /// and why.
  using quarantine_visitor = std::function<void(
    std::string key, std::vector<std::string> moved_to, std::string why)>;

  /// Visits every value file (verifying its checksum) and removes temp files
  /// left by an interrupted checkpoint. Fails on a symlink. A corrupt value
  /// file is moved into quarantine and told to `quarantined` when it is
  /// set (the scan goes on), else the scan fails with its error.
  caf::error
  scan(const std::function<caf::error(std::string key, entry e)>& visit,
       const quarantine_visitor& quarantined = {}) const;

  /// Removes the temp files an interrupted fold left, reading directory
  /// names only (a million keys: about a second with a cold cache, where
  /// scan() opens every file). Fails on a symlink, like scan().
  caf::error remove_temp_files() const;

  /// Removes the temp files of `keys` (an interrupted fold's, its mark
  /// says), opening only their directories, stopping early (cancelled, the
  /// rest left) when `cancel` turns true. Fails on a symlink, like
  /// remove_temp_files.
  caf::error remove_temps_of(const std::vector<std::string>& keys,
                             const std::atomic<bool>* cancel = nullptr) const;

  /// Moves the value file of `key` into quarantine_dir at the same relative
  /// path (with ".1", ".2"... when an earlier one is there: nothing is
  /// overwritten, nothing deleted); the path it went to.
  caf::expected<std::vector<std::string>>
  quarantine(const std::string& key) const;

  /// Visits every file in quarantine_dir not yet settled, with its key.
  caf::error scan_quarantine(
    const std::function<void(std::string key, std::vector<std::string> file)>&
      visit) const;

  /// Marks a quarantined file settled (renamed NAME.settled, kept).
  caf::error settle(const std::vector<std::string>& file) const;

  /// root_path/a/b/c: a path relative to the root, for messages.
  std::string shown(const std::vector<std::string>& path) const;

  file_env& env() const { return *env_; }
  int root_fd() const { return root_fd_; }
  const std::string& root_path() const { return root_path_; }

private:
  caf::error apply_one_by_one(const std::vector<tree_change>& changes,
                              const std::vector<std::vector<std::string>>& paths,
                              const std::atomic<bool>* cancel) const;
  caf::error apply_batched(const std::vector<tree_change>& changes,
                           const std::vector<std::vector<std::string>>& paths,
                           const std::atomic<bool>* cancel) const;
  /// Removes the directories the removals of `changes` emptied, deepest
  /// first, up to (never) the root: every ':' segment of a key is a
  /// directory, and without this each key ever deleted or expired left its
  /// own behind (an inode, a block, a larger parent, a longer scan). Those
  /// that still hold something (ENOTEMPTY: another key, of this shard or
  /// another) stay, and so does one that is gone already. A concurrent
  /// fold of another shard that needs one again makes it again
  /// (dir_walker::enter, write_temp_of). With `sync` each parent that lost
  /// a directory is synced; without, the caller's next syncfs makes the
  /// removals durable. Either way before apply() returns, so before the
  /// fold writes its key index and retires its logs: a key is absent
  /// whether or not its emptied directory stays, so neither needs them,
  /// but once its log is gone no later fold tries them again, while a
  /// removal replayed from a log that stays (a fold cut short) does.
  caf::error remove_emptied_dirs(
    const std::vector<tree_change>& changes,
    const std::vector<std::vector<std::string>>& paths, bool sync) const;
  /// Removes the temp files of changes [from, to) that write files, after
  /// a failed apply: a checkpoint that fails on a full disk must give back
  /// the space it took. Best effort.
  void remove_temps(const std::vector<tree_change>& changes,
                    const std::vector<std::vector<std::string>>& paths,
                    size_t from, size_t to) const;
  caf::error scan_dir(int dir_fd, std::vector<std::string>& where,
                      const std::function<caf::error(std::string, entry)>& visit,
                      const quarantine_visitor& quarantined) const;
  caf::error remove_temps_in(int dir_fd, const std::string& here) const;
  caf::expected<std::vector<std::string>>
  quarantine_path(const std::vector<std::string>& path) const;
  caf::error scan_quarantine_dir(
    int dir_fd, std::vector<std::string>& where,
    const std::function<void(std::string, std::vector<std::string>)>& visit)
    const;

  std::shared_ptr<file_env> env_;
  int root_fd_;
  std::string root_path_;
};

} // namespace solver_state
