// Opening base_path for the file backend: the ~lock file, then recovery:
// load the key tree, replay every log, fold them in, split keys by shard.

#include "backends/file/recovery.hpp"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "backends/other_engine_store.hpp"
#include "backends/shard_placement.hpp"
#include "util/crc32c.hpp"
#include "backends/file/change_collector.hpp"
#include "backends/file/fold_mark.hpp"
#include "backends/file/index_file.hpp"
#include "backends/file/value.hpp"
#include "backends/file/wal.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

bool starts_with(const std::string& s, std::string_view p) {
  return s.compare(0, p.size(), p) == 0;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

caf::expected<version_t> decode_hwm(const std::string& bytes,
                                    const std::string& path) {
  if (bytes.size() != 16 || std::memcmp(bytes.data(), "SSH1", 4) != 0
      || get_u32(bytes.data() + 4) != crc32c(bytes.data() + 8, 8))
    return make_state_error(state_errc::backend_error,
                            "corrupt version file " + path);
  return get_u64(bytes.data() + 8);
}

/// --recover-truncate-log: reports every record the cut drops, then cuts
/// the log `name` where its damage starts, for good (so the next start
/// does not refuse again).
caf::error cut_damaged_log(const file_base& base, const std::string& name,
                           const replay_summary& summary,
                           recovered_state& out) {
  auto path = base.path + "/" + name;
  constexpr size_t shown = 1000;
  spdlog::warn("file backend: --recover-truncate-log: {} is damaged at "
               "offset {} inside its synced part; cutting it there drops "
               "the {} valid records after it:",
               path, summary.end, summary.lost.size());
  for (size_t i = 0; i < summary.lost.size() && i < shown; ++i) {
    auto& rec = summary.lost[i];
    spdlog::warn("file backend: dropped: {} key {} version {}",
                 rec.op == wal_op::erase ? "delete" : "put", rec.key,
                 rec.version);
  }
  if (summary.lost.size() > shown)
    spdlog::warn("file backend: dropped: ... and {} more records",
                 summary.lost.size() - shown);
  int fd = base.env->open_at(base.root.get(), name, O_WRONLY | O_NOFOLLOW);
  if (fd < 0)
    return io_failure("cannot open log to cut it", path, fd);
  unique_fd guard{base.env.get(), fd};
  if (int rc = base.env->truncate(fd, static_cast<off_t>(summary.end)); rc != 0)
    return io_failure("cannot cut log", path, rc);
  if (int rc = base.env->sync(fd, false); rc != 0)
    return io_failure("cannot sync log", path, rc);
  ++out.truncated_logs;
  out.truncated_records += summary.lost.size();
  return {};
}

/// Syncs the logs of the last run that this start serves from memory.
/// Under fsync: interval or never, a process that crashed (or was killed)
/// leaves records written and never synced: the kernel still holds them,
/// this run serves them and writes after them, and its own log syncs would
/// make those later writes durable while the earlier ones could still be
/// lost to a power loss. Synced here, they are on disk before anything is
/// served. Under always they are synced already, and this costs little.
/// A failure is logged: the shards' first folds write the values from
/// memory, through syncs of their own.
void sync_inherited_logs(const file_base& base,
                         const std::vector<std::string>& logs) {
  for (auto& name : logs) {
    auto path = base.path + "/" + name;
    int fd = base.env->open_at(base.root.get(), name, O_RDONLY | O_NOFOLLOW);
    int rc = fd;
    if (fd >= 0) {
      unique_fd guard{base.env.get(), fd};
      rc = base.env->sync(fd, true);
    }
    if (rc < 0)
      spdlog::warn("file backend: {}; its records are durable once the "
                   "shards' first folds have written them into the tree",
                   message_of(io_failure("cannot sync the log of the last "
                                         "run",
                                         path, rc)));
  }
}

/// The generation of a log named "~wal-S-G.log", or nothing for a name we
/// do not make.
std::optional<uint64_t> log_generation(const std::string& name) {
  auto dash = name.rfind('-');
  auto dot = name.rfind(".log");
  if (dash == std::string::npos || dot == std::string::npos || dot <= dash)
    return std::nullopt;
  uint64_t generation = 0;
  auto first = name.data() + dash + 1;
  auto last = name.data() + dot;
  auto [end, ec] = std::from_chars(first, last, generation);
  if (ec != std::errc{} || end != last)
    return std::nullopt;
  return generation;
}

/// A generation above that of every log in `names`.
uint64_t next_log_generation(const std::vector<std::string>& names) {
  uint64_t next = 0;
  for (auto& name : names)
    if (auto generation = log_generation(name))
      next = std::max(next, *generation + 1);
  return next;
}

/// Sorts logs oldest first. Logs are removed in this order, and a crash in
/// the middle keeps a prefix of a directory's changes: the logs left are
/// then always the newest ones, never an old put without the newer delete
/// that followed it (which, replayed over a tree the delete was folded
/// into, would bring the key back). The directory lists "~wal-0-101.log"
/// before "~wal-0-79.log", hence the numeric sort. Generations only grow,
/// across runs too (recovered_state::first_log_generation), and a key lives
/// in one shard per run, so generation order is each key's write order.
void sort_oldest_first(std::vector<std::string>& logs) {
  std::stable_sort(logs.begin(), logs.end(),
                   [](const std::string& a, const std::string& b) {
                     return log_generation(a).value_or(0)
                            < log_generation(b).value_or(0);
                   });
}


/// The backend's own files at the root, by kind.
struct root_files {
  std::vector<std::string> hwms;
  std::vector<std::string> logs;
  std::vector<std::string> spares; // of the last run: folded, deleted
  std::map<size_t, std::string> indexes;
  std::map<size_t, std::string> snapshots; // snapshot_file_name
  std::vector<std::string> fold_marks;
};

caf::expected<root_files> list_root_files(const file_base& base) {
  std::vector<dir_entry> names;
  if (int rc = base.env->list_dir(base.root.get(), names); rc != 0)
    return io_failure("cannot list", base.path, rc);
  root_files out;
  size_t shard = 0;
  for (auto& e : names) {
    if (e.kind != dir_entry::file || ends_with(e.name, "~tmp"))
      continue;
    if (starts_with(e.name, "~hwm-"))
      out.hwms.push_back(e.name);
    else if (starts_with(e.name, "~wal-") && ends_with(e.name, ".log"))
      out.logs.push_back(e.name);
    else if (starts_with(e.name, "~wal-") && ends_with(e.name, ".spare"))
      out.spares.push_back(e.name);
    else if (parse_index_file_name(e.name, shard))
      out.indexes.emplace(shard, e.name);
    else if (parse_snapshot_file_name(e.name, shard))
      out.snapshots.emplace(shard, e.name);
    else if (starts_with(e.name, "~folding-"))
      out.fold_marks.push_back(e.name);
  }
  return out;
}

/// The tree's keys, per shard (shard_index() of the run being opened).
using tree_keys = std::vector<key_index>;

/// Loads the keys of the tree from the shards' index files into `keys`
/// (one map per shard, filled in order); empty when it did, else why they
/// cannot be used (then `keys` is left empty).
std::string load_indexes(const file_base& base, const root_files& files,
                         size_t shard_count, tree_keys& keys,
                         version_t& max_version, uint64_t& set_out) {
  if (files.indexes.empty())
    return "it has no key index yet";
  auto tree = base.tree();
  std::optional<uint64_t> set;
  auto fail = [&](std::string why) {
    keys.assign(shard_count, key_index{});
    return why;
  };
  for (auto& [shard, name] : files.indexes)
    if (shard >= shard_count)
      return fail("its key index is of more than " + std::to_string(shard_count)
                  + " shards (" + name + ")");
  for (size_t shard = 0; shard < shard_count; ++shard) {
    auto found = files.indexes.find(shard);
    if (found == files.indexes.end())
      return fail("its key index lacks " + index_file_name(shard));
    auto path = base.path + "/" + found->second;
    auto bytes = read_tree_root_file(tree, found->second);
    if (!bytes)
      return fail(message_of(bytes.error()));
    auto& map = keys[shard];
    std::string misplaced;
    auto header = read_index_file(
      *bytes, path, [&](std::string_view key, const key_meta& meta) {
        if (shard_index(key, shard_count) != shard && misplaced.empty())
          misplaced = std::string{key};
        max_version = std::max(max_version, meta.version);
        map.emplace_hint(map.end(), std::string{key}, meta);
      });
    if (!header)
      return fail(message_of(header.error()));
    if (header->shard != shard || header->shard_count != shard_count)
      return fail(path + " is shard " + std::to_string(header->shard) + " of "
                  + std::to_string(header->shard_count) + ", not "
                  + std::to_string(shard) + " of "
                  + std::to_string(shard_count));
    if (!misplaced.empty())
      return fail(path + " holds key " + misplaced + " of another shard");
    if (set && *set != header->set)
      return fail(path + " is of another set of indexes than "
                  + index_file_name(0));
    set = header->set;
  }
  set_out = set.value_or(0);
  return {};
}

/// Writes every shard's index file for `keys`, under a new set number
/// (`set`: 0 until all are written).
caf::error write_indexes(const file_tree& tree, const tree_keys& keys,
                         uint64_t& set) {
  set = 0;
  index_file_header header;
  header.shard_count = static_cast<uint32_t>(keys.size());
  header.set = new_index_set();
  for (size_t shard = 0; shard < keys.size(); ++shard) {
    index_file_builder builder;
    for (auto& [key, meta] : keys[shard])
      builder.add(key, meta);
    header.shard = static_cast<uint32_t>(shard);
    if (auto err = tree.write_root_file(index_file_name(shard),
                                        builder.finish(header)))
      return err;
  }
  set = header.set;
  return {};
}

/// True when every fold mark of `names` names its keys (fold_mark.hpp).
bool marks_name_keys(const file_tree& tree,
                     const std::vector<std::string>& names) {
  for (auto& name : names) {
    auto bytes = read_tree_root_file(tree, name);
    if (!bytes || !decode_fold_mark(*bytes)) {
      spdlog::warn("file backend: the fold mark {}/{} names no keys ({}): "
                   "walking the tree for temp files",
                   tree.root_path(), name,
                   bytes ? "not a mark of this version"
                         : message_of(bytes.error()));
      return false;
    }
  }
  return true;
}

/// Applies a shard's logged changes to the tree's keys of that shard,
/// dropping those no newer than the tree's version of their key. The
/// changes are taken in key order: each search of the tree then follows
/// the path of the one before, in cache, where a search per record in log
/// order missed the cache at every level (bench/README.md, "A start after
/// a write load").
void merge_changes(log_changes& changes, key_index& keys) {
  // Sorted by the first bytes of their keys, copied beside each change, and
  // only then by the whole keys: a sort that followed each change to its
  // key in the hash map missed the cache at every comparison (13% of a
  // start after a write load).
  struct by_key {
    std::array<char, 16> head{};
    log_changes::iterator change;
  };
  std::vector<by_key> order;
  order.reserve(changes.size());
  for (auto it = changes.begin(); it != changes.end(); ++it) {
    by_key k{{}, it};
    std::memcpy(k.head.data(), it->first.data(),
                std::min(it->first.size(), k.head.size()));
    order.push_back(k);
  }
  // Heads that differ order their keys as the keys do (the zero padding of
  // a short key sorts it before a longer key it begins); equal heads, the
  // keys themselves.
  std::sort(order.begin(), order.end(), [](const by_key& a, const by_key& b) {
    if (int c = std::memcmp(a.head.data(), b.head.data(), a.head.size()))
      return c < 0;
    return a.change->first < b.change->first;
  });
  for (auto& [head, change] : order) {
    auto& [key, c] = *change;
    auto hint = keys.lower_bound(key);
    bool in_tree = hint != keys.end() && hint->first == key;
    if (in_tree && c.data.version <= hint->second.version) {
      changes.erase(change); // older than the tree's: the fold kept newer
      continue;
    }
    if (c.removed) {
      if (in_tree)
        keys.erase(hint);
      continue;
    }
    key_meta meta{c.data.version, c.data.expires_at_ms, c.data.value.size()};
    if (in_tree)
      hint->second = meta;
    else
      keys.emplace_hint(hint, key, meta);
  }
}

/// The tree's key, if it has it.
const key_meta* find_in(const tree_keys& keys, const std::string& key) {
  auto& map = keys[shard_index(key, keys.size())];
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

/// Removes `names` from the root, durably.
caf::error remove_root_files(const file_base& base,
                             const std::vector<std::string>& names) {
  for (auto& name : names)
    if (int rc = base.env->unlink_at(base.root.get(), name);
        rc != 0 && rc != -ENOENT)
      return io_failure("cannot remove", base.path + "/" + name, rc);
  if (names.empty())
    return {};
  if (int rc = base.env->sync(base.root.get(), false); rc != 0)
    return io_failure("cannot sync directory", base.path, rc);
  return {};
}

std::vector<std::string> index_names(const root_files& files) {
  std::vector<std::string> out;
  for (auto& kv : files.indexes)
    out.push_back(kv.second);
  return out;
}

} // namespace

std::string wal_name(size_t index, uint64_t generation) {
  return "~wal-" + std::to_string(index) + "-" + std::to_string(generation)
         + ".log";
}

std::string wal_spare_name(size_t index) {
  return "~wal-" + std::to_string(index) + ".spare";
}

std::string hwm_name(size_t index) {
  return "~hwm-" + std::to_string(index);
}

std::string encode_hwm(version_t v) {
  std::string body;
  put_u64(body, v);
  std::string out = "SSH1";
  put_u32(out, crc32c(body));
  return out + body;
}

namespace {

/// Creates `path` and each missing parent, one at a time through `env`,
/// and makes each new entry durable (an fsync of the directory that holds
/// it): a power loss after the first acknowledged write must not take away
/// the directory that write went into, and create_directories syncs
/// nothing. A path that exists, or cannot be opened for another reason than
/// a missing part, is left to the open that follows to report.
caf::error create_base_path(file_env& env, const std::string& path) {
  namespace fs = std::filesystem;
  // As written, not normalised: "a/link/../b" is not "a/b" when link is a
  // symlink. Only trailing separators go ("var/state/").
  auto trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/')
    trimmed.pop_back();
  fs::path target{trimmed};
  std::vector<fs::path> missing;
  for (auto p = target; !p.empty(); p = p.parent_path()) {
    int fd = env.open_at(AT_FDCWD, p.string(), O_RDONLY | O_DIRECTORY);
    if (fd >= 0)
      env.close(fd);
    if (fd != -ENOENT)
      break;
    missing.push_back(p);
    if (p == p.parent_path())
      break; // the root
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    auto dir = it->string();
    if (int rc = env.mkdir_at(AT_FDCWD, dir); rc != 0 && rc != -EEXIST)
      return io_failure("cannot create base_path " + path + ": directory",
                        dir, rc);
    auto parent = it->parent_path().empty() ? std::string{"."}
                                            : it->parent_path().string();
    int fd = env.open_at(AT_FDCWD, parent, O_RDONLY | O_DIRECTORY);
    if (fd == -EACCES) {
      // Searchable and writable but not readable (mode 1733): created, but
      // its entry cannot be synced from here. Said, not fatal.
      spdlog::warn("file backend: cannot open {} to sync the entry of {} "
                   "(permission denied): a power loss soon after this start "
                   "may take base_path away",
                   parent, dir);
      continue;
    }
    if (fd < 0)
      return io_failure("cannot open to sync", parent, fd);
    int rc = env.sync(fd, false);
    env.close(fd);
    if (rc != 0)
      return io_failure("cannot sync the directory holding base_path",
                        parent, rc);
  }
  return {};
}

} // namespace

caf::expected<std::shared_ptr<file_base>>
open_base(std::shared_ptr<file_env> env, const std::string& path) {
  if (auto err = create_base_path(*env, path))
    return err;
  auto base = std::make_shared<file_base>();
  base->env = env;
  base->path = path;
  int root = env->open_at(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
  if (root < 0)
    return io_failure("cannot open base_path", path, root);
  base->root = unique_fd{env.get(), root};
  // Before the lock file: nothing of this backend's is left in another
  // engine's directory.
  if (auto why = refused_by_file_backend(path); !why.empty())
    return make_state_error(state_errc::backend_error, why);
  int lock = env->open_at(root, "~lock", O_RDWR | O_CREAT | O_NOFOLLOW, 0644);
  if (lock < 0)
    return io_failure("cannot open lock file", path + "/~lock", lock);
  base->lock = unique_fd{env.get(), lock};
  if (int rc = env->lock(lock); rc != 0) {
    if (rc == -EWOULDBLOCK)
      return make_state_error(state_errc::backend_error,
                              "base_path " + path
                                + " is in use by another process (it holds "
                                  "the lock on "
                                + path + "/~lock)");
    return io_failure("cannot lock", path + "/~lock", rc);
  }
  return base;
}

caf::expected<recovered_state> recover(const file_base& base,
                                       size_t shard_count,
                                       recover_options opts) {
  recovered_state out;
  auto tree = base.tree();
  tree_keys keys(shard_count); // the tree's, until step 4
  auto files = list_root_files(base);
  if (!files)
    return std::move(files.error());
  // 0. Keys quarantined before, not settled since (settled files are
  //    renamed): they answer an error until written or deleted.
  std::unordered_map<std::string, quarantine_record> moved;
  auto err = tree.scan_quarantine(
    [&](std::string key, std::vector<std::string> file) {
      auto& q = moved[key];
      if (q.what.empty())
        q.what = "its value file failed its check earlier and is kept at "
                 + tree.shown(file);
      q.files.push_back(std::move(file));
    });
  if (err)
    return err;
  // 1. The tree: the state as of the last completed fold, from the shards'
  //    index files when they are all there, else from the value files.
  out.scanned_because = load_indexes(base, *files, shard_count, keys,
                                     out.max_version, out.index_set);
  out.from_index = out.scanned_because.empty();
  if (out.from_index) {
    // A fold was interrupted: the temp files it wrote are left. When the
    // marks name their keys, the shards' next folds see to them (they
    // overwrite them, or remove them before they write: write_fold_mark);
    // when a mark does not say (an earlier version's), the start walks the
    // tree for them.
    if (!files->fold_marks.empty()) {
      if (marks_name_keys(tree, files->fold_marks)) {
        out.temps_left_to_folds = true;
      } else {
        if (auto err = tree.remove_temp_files())
          return err;
        out.removed_temps = true;
      }
    }
    // A read moved the key's value file into quarantine after the index
    // was written: the index still names it, the tree no longer has it.
    for (auto& [key, q] : moved)
      if (find_in(keys, key))
        if (auto e = tree.read(key);
            !e && code_of(e.error()) == state_errc::not_found)
          keys[shard_index(key, shard_count)].erase(key);
  } else {
    // Old indexes go before anything changes the tree: an index must never
    // survive a change of the tree its shard's fold did not merge into it.
    if (auto err = remove_root_files(base, index_names(*files)))
      return err;
    err = tree.scan(
      [&](std::string key, entry e) -> caf::error {
        out.max_version = std::max(out.max_version, e.version);
        auto shard = shard_index(key, shard_count);
        keys[shard].emplace(std::move(key),
                            key_meta{e.version, e.expires_at_ms,
                                     e.value.size()});
        return {};
      },
      [&](std::string key, std::vector<std::string> moved_to, std::string why) {
        auto shown = tree.shown(moved_to);
        spdlog::error("file backend: {}; moved it to {} (kept): key {} "
                      "answers backend_error until it is written or deleted",
                      why, shown, key);
        auto& q = moved[key];
        q.what = "its value file failed its check (" + why
                 + ") and was moved to " + shown;
        q.files.push_back(std::move(moved_to));
      });
    if (err)
      return err;
    // The tree as scanned, before any log: what the shards' folds merge
    // their changes into. Without it the next start scans again.
    if (!opts.fold_logs)
      if (auto err = write_indexes(tree, keys, out.index_set))
        spdlog::warn("file backend: cannot write the key index ({}): the "
                     "next start scans the tree again",
                     message_of(err));
  }
  // The temp files are gone (removed by the walk or the scan): durably,
  // before the marks go, or a crash could bring back temp files that no
  // start from the index would look for again.
  if (!out.from_index || out.removed_temps)
    if (int rc = base.env->sync_fs(base.root.get()); rc != 0)
      return io_failure("cannot sync the filesystem of", base.path, rc);
  if (!out.temps_left_to_folds)
    if (auto err = remove_root_files(base, files->fold_marks))
      return err;
  // The shards' snapshots are read into memory and removed, durably, by
  // every open, whoever opens (the service, the CLI, a test): a snapshot
  // left on disk could outlive writes made by this open and describe a
  // store that no longer is. Those of shards this run does not have, or
  // kept with a key index that is gone (the tree was scanned), can apply
  // to nothing and are not read.
  out.snapshots.resize(shard_count);
  std::vector<std::string> taken;
  for (auto& [shard, name] : files->snapshots) {
    taken.push_back(name);
    if (!out.from_index || shard >= shard_count)
      continue;
    auto bytes = read_tree_root_file(tree, name);
    if (bytes)
      out.snapshots[shard] = std::move(*bytes);
    else
      spdlog::warn("file backend: {}; the shard builds its indexes from the "
                   "values",
                   message_of(bytes.error()));
  }
  if (auto err = remove_root_files(base, taken))
    return err;
  // 2. Versions issued before the last checkpoint (deleted keys included).
  for (auto& name : files->hwms) {
    auto bytes = read_tree_root_file(tree, name);
    if (!bytes)
      return std::move(bytes.error());
    auto v = decode_hwm(*bytes, base.path + "/" + name);
    if (!v)
      return std::move(v.error());
    out.max_version = std::max(out.max_version, *v);
  }
  auto logs = files->logs;
  auto& spares = files->spares;
  sort_oldest_first(logs);
  // 3. The logs, in any order: the highest version of a key wins. They are
  //    read and checked here while the collector keeps each key's newest.
  caf::error bad_record;
  change_collector collector{shard_count};
  for (auto& name : logs) {
    auto path = base.path + "/" + name;
    auto summary = replay_wal(
      *base.env, base.root.get(), name, path, [&](wal_record&& rec) {
        if (bad_record)
          return;
        if (!is_valid_key(rec.key)) {
          bad_record = make_state_error(state_errc::backend_error,
                                        "corrupt log " + path
                                          + ": record with an invalid key");
          return;
        }
        out.max_version = std::max(out.max_version, rec.version);
        collector.add(std::move(rec));
      },
      max_file_value_bytes, opts.truncate_damaged_log);
    if (!summary)
      return std::move(summary.error());
    if (bad_record)
      return bad_record;
    if (summary->damaged)
      if (auto err = cut_damaged_log(base, name, *summary, out))
        return err;
    out.log_records += summary->records;
    if (summary->torn) {
      ++out.torn_logs;
      spdlog::warn("file backend: {} ends with a torn write at offset {} "
                   "(an append a crash cut short, never synced); replayed "
                   "the {} records before it, dropped {} valid records "
                   "after it",
                   path, summary->end, summary->records, summary->dropped);
    }
  }
  // A clean stop leaves whole, synced logs: one cut here (a damaged log
  // cut by --recover-truncate-log, a torn tail) no longer holds what the
  // snapshots of that stop were made of.
  if (out.truncated_logs + out.torn_logs > 0) {
    size_t dropped = 0;
    for (auto& snapshot : out.snapshots)
      dropped += snapshot ? 1 : 0;
    out.snapshots.assign(shard_count, std::nullopt);
    if (dropped > 0)
      spdlog::warn("file backend: {} shard(s) build their indexes from the "
                   "values: the snapshots of the last stop describe records "
                   "a cut log no longer holds",
                   dropped);
  }
  // What the logs changed, per shard: each key's newest record, when it is
  // newer than the tree's version (once merged below). Handed to the shards
  // as it is when the logs stay (their values are what the shards serve
  // until folded).
  auto changed = collector.finish();
  // 4. The keys as the logs left them: the tree's, changed by the logs.
  //    A change no newer than the tree's version of its key is history the
  //    last fold already kept: it goes before anything reads `changed`.
  for (size_t shard = 0; shard < shard_count; ++shard)
    merge_changes(changed[shard], keys[shard]);
  // The quarantined keys a log record wrote or deleted since, or that have
  // a value in the tree: settled, so a later delete does not bring the
  // error back. The rest answer an error until written or deleted.
  out.quarantined.resize(shard_count);
  for (auto& [key, q] : moved) {
    auto& shard_changes = changed[shard_index(key, shard_count)];
    if (shard_changes.count(key) == 0 && !find_in(keys, key)) {
      out.quarantined[shard_index(key, shard_count)].emplace(key, std::move(q));
      continue;
    }
    for (auto& file : q.files)
      if (auto err = tree.settle(file))
        return err;
  }
  // 5. Fold the logs into the tree, persist the version mark, drop the logs.
  //    Spares hold nothing the tree lacks: they go first, which on a full
  //    disk may be the room the fold needs.
  for (auto& name : spares)
    if (int rc = base.env->unlink_at(base.root.get(), name);
        rc != 0 && rc != -ENOENT)
      return io_failure("cannot remove folded log", base.path + "/" + name,
                        rc);
  caf::error fold_err;
  if (opts.fold_logs) {
    // The indexes describe the tree without the logs: they go before the
    // fold changes it, and a new set follows it.
    if (out.from_index)
      if (auto err = remove_root_files(base, index_names(*files)))
        return err;
    std::vector<tree_change> changes;
    for (auto& shard_changes : changed)
      for (auto& [key, c] : shard_changes)
        changes.push_back({&key, c.removed ? nullptr : &c.data});
    fold_err = tree.apply(std::move(changes));
    if (!fold_err)
      fold_err = tree.write_root_file(hwm_name(0),
                                      encode_hwm(out.max_version));
    if (!fold_err)
      if (auto err = write_indexes(tree, keys, out.index_set))
        spdlog::warn("file backend: cannot write the key index ({}): the "
                     "next start scans the tree again",
                     message_of(err));
    if (fold_err && code_of(fold_err) != state_errc::insufficient_storage)
      return fold_err;
    if (fold_err) {
      // No room: the logs stay, their changes wait in the shards' memory
      // and the store starts read-only rather than not at all.
      out.fold_postponed = message_of(fold_err);
      spdlog::warn("file backend: cannot fold the {} logs of the last run "
                   "into the tree ({}); they stay, their changes are served "
                   "from memory, and writes wait for room on the disk",
                   logs.size(), out.fold_postponed);
    }
  }
  bool keep_logs = !opts.fold_logs || fold_err;
  if (keep_logs && !logs.empty()) {
    sync_inherited_logs(base, logs);
    out.inherited = std::make_shared<inherited_logs>();
    out.inherited->names = logs;
    out.inherited->shards_left = shard_count;
    out.first_log_generation = next_log_generation(logs);
  } else if (!keep_logs) {
    for (auto& name : logs)
      if (int rc = base.env->unlink_at(base.root.get(), name); rc != 0)
        return io_failure("cannot remove folded log", base.path + "/" + name,
                          rc);
  }
  if (!spares.empty() || (!logs.empty() && !keep_logs))
    if (int rc = base.env->sync(base.root.get(), false); rc != 0)
      return io_failure("cannot sync directory", base.path, rc);
  // 6. Hand each shard its keys, and the changes it has to fold.
  if (keep_logs)
    out.unfolded = std::move(changed);
  else
    out.unfolded.assign(shard_count, log_changes{});
  for (auto& map : keys)
    out.keys += map.size();
  out.shards = std::move(keys);
  return out;
}

} // namespace solver_state
