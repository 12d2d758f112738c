// Opening and recovering a base_path on its own (backends/file/recovery.hpp):
// the lock, folding a tree and the logs of the previous run (the highest
// version of a key wins, in any log order), the version marks, torn logs,
// spare logs and temp files, a fold the disk interrupts, and every kind of
// damage recovery refuses to start on (folding nothing); a directory written
// under an older placement opens as it is.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backends/file/fold_mark.hpp"
#include "backends/file/layout.hpp"
#include "backends/file/index_file.hpp"
#include "backends/file/recovery.hpp"
#include "backends/file/value.hpp"
#include "backends/file/wal.hpp"
#include "backends/shard_placement.hpp"
#include "tests/support/file_test_support.hpp"
#include "tests/support/running_store.hpp"

using namespace solver_state;
using namespace solver_state::testing;
namespace fs = std::filesystem;

namespace {

/// A failing_env that also counts unlinks, and can stop removing logs
/// after a number of them (as a crash in the middle would).
class flaky_env : public failing_env {
public:
  std::atomic<size_t> unlinks{0};
  std::atomic<size_t> log_unlinks{0}; // of "~wal-*" files
  std::atomic<int> log_unlinks_before_failure{-1};
  std::vector<std::string> logs_removed;

  int unlink_at(int dir, const std::string& name, int flags) override {
    ++unlinks;
    if (name.rfind("~wal-", 0) == 0) {
      if (log_unlinks_before_failure.load() == 0)
        return -EIO;
      if (log_unlinks_before_failure.load() > 0)
        --log_unlinks_before_failure;
      ++log_unlinks;
      logs_removed.push_back(name);
    }
    return failing_env::unlink_at(dir, name, flags);
  }
};

std::shared_ptr<file_base> open_locked(const std::string& path,
                                       std::shared_ptr<file_env> env
                                       = default_file_env()) {
  auto base = open_base(std::move(env), path);
  REQUIRE(base);
  return std::move(*base);
}

wal_record put(std::string key, std::string value, version_t v,
               unix_ms expires = 0) {
  return wal_record{wal_op::put, v, expires, std::move(key), std::move(value)};
}

wal_record erase(std::string key, version_t v) {
  return wal_record{wal_op::erase, v, 0, std::move(key), {}};
}

/// Writes the log `name` of the previous run, as its shard left it under
/// fsync: always with one write per commit: each record synced before the
/// next (so damage to any but the last is corruption, not a torn append).
void write_log(const file_base& base, const std::string& name,
               const std::vector<wal_record>& records) {
  auto log = wal_writer::create(base.env, base.root.get(), name,
                                base.path + "/" + name, false);
  REQUIRE(log);
  for (auto& r : records) {
    std::string batch;
    log->encode(batch, r.op, r.key, r.value, r.version, r.expires_at_ms);
    REQUIRE_FALSE(log->append(batch, true));
  }
}

/// Puts `kv` into the tree as the last checkpoint left it.
void write_tree(const file_base& base, const std::map<std::string, entry>& kv) {
  std::vector<tree_change> changes;
  for (auto& [key, e] : kv)
    changes.push_back({&key, &e});
  REQUIRE_FALSE(base.tree().apply(std::move(changes)));
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Names at the top of base_path.
std::set<std::string> root_names(const std::string& path) {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(path))
    out.insert(e.path().filename().string());
  return out;
}

/// Every key of `st` with the shard it was handed to.
std::map<std::string, std::pair<size_t, key_meta>>
keys_of(const recovered_state& st) {
  std::map<std::string, std::pair<size_t, key_meta>> out;
  for (size_t i = 0; i < st.shards.size(); ++i)
    for (auto& [key, meta] : st.shards[i]) {
      auto inserted = out.emplace(key, std::make_pair(i, meta)).second;
      CHECK(inserted); // never in two shards
    }
  return out;
}

std::string read_value(const file_base& base, const std::string& key) {
  auto got = base.tree().read(key);
  if (!got)
    return "<error " + std::string{to_string(code_of(got.error()))} + ">";
  return got->value;
}

} // namespace

TEST_CASE("open_base creates base_path, takes its lock and refuses a "
          "second opener until the first lets go") {
  temp_dir dir;
  auto path = dir.sub("deep/er/base");
  auto first = open_base(default_file_env(), path);
  REQUIRE(first);
  CHECK(fs::is_directory(path));
  CHECK(fs::exists(path + "/~lock"));
  auto second = open_base(default_file_env(), path);
  REQUIRE_FALSE(second);
  CHECK(code_of(second.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(second.error()),
             Catch::Contains("in use by another process")
               && Catch::Contains(path + "/~lock"));
  first->reset();
  auto third = open_base(default_file_env(), path);
  CHECK(third);
}

namespace {

/// Records, in order, each directory the store creates and each directory
/// it syncs (by path).
class dir_recording_env : public file_env {
public:
  std::vector<std::string> events;

  int mkdir_at(int dir_fd, const std::string& name) override {
    int rc = file_env::mkdir_at(dir_fd, name);
    if (rc == 0)
      events.push_back("mkdir " + fs::weakly_canonical(name).string());
    return rc;
  }
  int sync(int fd, bool data_only) override {
    std::error_code ec;
    auto target = fs::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
    if (!ec && fs::is_directory(target))
      events.push_back("sync " + target.string());
    return file_env::sync(fd, data_only);
  }
};

} // namespace

TEST_CASE("open_base makes each directory it creates durable: the one "
          "holding it is synced") {
  temp_dir dir;
  auto root = fs::weakly_canonical(dir.path).string();
  auto env = std::make_shared<dir_recording_env>();
  auto base = open_base(env, dir.sub("a/b/c/"));
  REQUIRE(base);
  std::vector<std::string> creation(env->events.begin(),
                                    env->events.begin()
                                      + std::min<size_t>(6, env->events.size()));
  CHECK(creation
        == std::vector<std::string>{"mkdir " + root + "/a", "sync " + root,
                                    "mkdir " + root + "/a/b",
                                    "sync " + root + "/a",
                                    "mkdir " + root + "/a/b/c",
                                    "sync " + root + "/a/b"});
  base->reset();
  // Opened again: nothing to create.
  env->events.clear();
  REQUIRE(open_base(env, dir.sub("a/b/c")));
  for (auto& e : env->events)
    CHECK(e.rfind("mkdir", 0) != 0);
  // A path with ".." is created as written, as create_directories did.
  auto dotted = open_base(env, dir.sub("x/y/.."));
  INFO((dotted ? std::string{} : message_of(dotted.error())));
  REQUIRE(dotted);
  CHECK(fs::is_directory(dir.sub("x/y")));
}

TEST_CASE("open_base refuses a base_path it cannot create or open") {
  temp_dir dir;
  spit(dir.sub("file"), "a regular file");
  for (auto path : {dir.sub("file"), dir.sub("file/below")}) {
    auto base = open_base(default_file_env(), path);
    REQUIRE_FALSE(base);
    CHECK(code_of(base.error()) == state_errc::io_error);
    CHECK_THAT(message_of(base.error()), Catch::Contains(path));
  }
  // A read-only disk: base_path cannot be created; when it exists, its
  // lock file cannot be.
  auto env = std::make_shared<failing_env>();
  env->read_only = true;
  auto missing = open_base(env, dir.sub("ro"));
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing.error()) == state_errc::io_error);
  CHECK_THAT(message_of(missing.error()),
             Catch::Contains("cannot create base_path " + dir.sub("ro")));
  fs::create_directories(dir.sub("ro"));
  auto base = open_base(env, dir.sub("ro"));
  REQUIRE_FALSE(base);
  CHECK(code_of(base.error()) == state_errc::io_error);
  CHECK_THAT(message_of(base.error()), Catch::Contains("~lock"));
}

TEST_CASE("recovery of a new base_path finds nothing and writes the version "
          "mark") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  auto st = recover(*base, 4);
  REQUIRE(st);
  CHECK(st->shards.size() == 4);
  for (auto& s : st->shards)
    CHECK(s.empty());
  CHECK(st->keys == 0);
  CHECK(st->max_version == 0);
  CHECK(st->log_records == 0);
  CHECK(st->torn_logs == 0);
  CHECK(slurp(dir.sub(hwm_name(0))) == encode_hwm(0));
  CHECK(root_names(dir.path)
        == std::set<std::string>{"~lock", hwm_name(0), index_file_name(0),
                                 index_file_name(1), index_file_name(2),
                                 index_file_name(3)});
}

TEST_CASE("recovery folds the logs into the tree: per key the highest "
          "version wins, in whatever order the logs are read") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  // The last checkpoint.
  write_tree(*base, {{"k1", {"tree1", 5, 0}},
                     {"k2", {"tree2", 6, 0}},
                     {"k3", {"tree3", 7, 0}},
                     {"k7", {"tree7", 3, 5000}}});
  // Two logs of a run with another shard count; the older records are in
  // the log whose name sorts (and is likely listed) last.
  write_log(*base, wal_name(0, 1),
            {put("k1", "log-new", 8, 9000), erase("k2", 9),
             put("k4", "four", 10)});
  write_log(*base, wal_name(1, 3),
            {put("k1", "older", 7), put("k3", "stale", 4), put("k5", "five", 11),
             erase("k5", 12), erase("k6", 13)});
  auto st = recover(*base, 3);
  REQUIRE(st);
  CHECK(st->keys == 4);
  CHECK(st->max_version == 13); // the delete of a key never seen counts
  CHECK(st->log_records == 8);
  CHECK(st->torn_logs == 0);
  REQUIRE(st->shards.size() == 3);
  auto keys = keys_of(*st);
  REQUIRE(keys.size() == 4);
  struct expect {
    version_t version;
    unix_ms expires;
    uint32_t size;
  };
  std::map<std::string, expect> expected = {{"k1", {8, 9000, 7}},
                                            {"k3", {7, 0, 5}},
                                            {"k4", {10, 0, 4}},
                                            {"k7", {3, 5000, 5}}};
  for (auto& [key, e] : expected) {
    REQUIRE(keys.count(key) == 1);
    auto& [shard, meta] = keys.at(key);
    CHECK(shard == shard_index(key, 3));
    CHECK(meta.version == e.version);
    CHECK(meta.expires_at_ms == e.expires);
    CHECK(meta.size == e.size);
  }
  // The tree now holds the folded state...
  auto k1 = base->tree().read("k1");
  REQUIRE(k1);
  CHECK(k1->value == "log-new");
  CHECK(k1->version == 8);
  CHECK(k1->expires_at_ms == 9000);
  CHECK(read_value(*base, "k2") == "<error not_found>");
  CHECK(read_value(*base, "k3") == "tree3");
  CHECK(read_value(*base, "k4") == "four");
  CHECK(read_value(*base, "k5") == "<error not_found>");
  CHECK(read_value(*base, "k6") == "<error not_found>");
  CHECK(read_value(*base, "k7") == "tree7");
  // ... the logs are gone, and the mark keeps the highest version.
  CHECK(root_names(dir.path)
        == std::set<std::string>{"~lock", hwm_name(0), "k1.val", "k3.val",
                                 "k4.val", "k7.val", index_file_name(0),
                                 index_file_name(1), index_file_name(2)});
  CHECK(slurp(dir.sub(hwm_name(0))) == encode_hwm(13));
  // The next start, with one shard: the same keys from the tree alone, and
  // the highest version from the mark (no key has 13 any more).
  base.reset();
  base = open_locked(dir.path);
  auto again = recover(*base, 1);
  REQUIRE(again);
  CHECK(again->keys == 4);
  CHECK(again->log_records == 0);
  CHECK(again->max_version == 13);
  REQUIRE(again->shards.size() == 1);
  CHECK(again->shards[0].size() == 4);
  CHECK(again->shards[0].at("k1").version == 8);
}

TEST_CASE("recovery hands every key to the shard that owns it, for any "
          "shard count") {
  temp_dir dir;
  std::map<std::string, entry> kv;
  for (int i = 0; i < 60; ++i)
    kv.emplace("order:t:" + std::to_string(i),
               entry{std::string(static_cast<size_t>(i), 'v'),
                     static_cast<version_t>(i + 1), 0});
  {
    auto base = open_locked(dir.path);
    write_tree(*base, kv);
  }
  for (size_t shards : {size_t{1}, size_t{2}, size_t{7}, size_t{16}}) {
    auto base = open_locked(dir.path);
    auto st = recover(*base, shards);
    REQUIRE(st);
    CHECK(st->keys == kv.size());
    CHECK(st->max_version == 60);
    REQUIRE(st->shards.size() == shards);
    auto keys = keys_of(*st);
    CHECK(keys.size() == kv.size());
    for (auto& [key, e] : kv) {
      REQUIRE(keys.count(key) == 1);
      CHECK(keys.at(key).first == shard_index(key, shards));
      CHECK(keys.at(key).second.size == e.value.size());
    }
  }
}

namespace {

/// Where builds before placement groups put a key: fills and settlements by
/// `fill:{order_id}` and `settlement:{order_id}`, every other key (orders
/// and tagged keys too) by its whole text.
size_t shard_before_placement_groups(const std::string& key, size_t shards) {
  std::string_view group = key;
  auto cls = class_of(key);
  if (cls == key_class::fill || cls == key_class::settlement) {
    auto second = key.find(':', key.find(':') + 1);
    if (second != std::string::npos)
      group = group.substr(0, second);
  }
  return stable_hash(group) % shards;
}

/// The ids under `prefix` among the keys of `kv`, sorted.
std::vector<std::string> ids_under(const std::map<std::string, std::string>& kv,
                                   const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& [key, value] : kv)
    if (key.compare(0, prefix.size(), prefix) == 0)
      out.push_back(key.substr(prefix.size()));
  return out;
}

} // namespace

TEST_CASE("a data directory written before placement groups opens with "
          "every key readable and listable") {
  // The upgrade needs no step: the logs of the old shards are folded and
  // every key is handed to its shard under the new placement.
  constexpr size_t shards = 4;
  temp_dir dir;
  std::map<std::string, std::string> kv;
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    auto id = "0xo" + std::to_string(i);
    ids.push_back(id);
    kv[order_key("eip7683", id)] = "order " + id;
    for (auto tx : {"0xt1", "0xt2", "0xt3"})
      kv[fill_key(id, tx)] = "fill " + id + tx;
    kv[settlement_key(id, "0xc")] = "settlement " + id;
  }
  for (int i = 0; i < 8; ++i)
    kv["state:{quoter}:k" + std::to_string(i)] = "q" + std::to_string(i);
  kv["plain"] = "p";
  {
    // Every other key from the last checkpoint (the tree knows no shards),
    // the rest from the log of the shard the old placement gave it.
    auto base = open_locked(dir.path);
    std::map<std::string, entry> tree;
    std::vector<std::vector<wal_record>> logs(shards);
    version_t v = 0;
    size_t moved = 0;
    for (auto& [key, value] : kv) {
      auto old_shard = shard_before_placement_groups(key, shards);
      moved += old_shard != shard_index(key, shards);
      if (++v % 2 == 0)
        tree.emplace(key, entry{value, v, 0});
      else
        logs[old_shard].push_back(put(key, value, v));
    }
    // The placement really changed under most of these keys.
    REQUIRE(moved > kv.size() / 2);
    write_tree(*base, tree);
    for (size_t i = 0; i < shards; ++i)
      write_log(*base, wal_name(i, 1), logs[i]);
  }
  auto check_every_key = [&](running_store& store) {
    for (auto& [key, value] : kv) {
      INFO(key);
      auto got = store.ask<entry>(get_atom_v, key);
      REQUIRE(got);
      CHECK(got->value == value);
    }
    for (auto& id : ids) {
      INFO("order " << id);
      // Asks the order's one shard, which must hold every fill.
      auto fills = store.ask<id_list>(list_atom_v, fills_of{id, {}, 0});
      REQUIRE(fills);
      CHECK(fills->ids == ids_under(kv, fills_prefix(id)));
      auto settled = store.ask<id_list>(list_atom_v,
                                        settlements_of{id, {}, 0});
      REQUIRE(settled);
      CHECK(settled->ids == ids_under(kv, settlements_prefix(id)));
    }
    auto tagged = store.ask<key_page>(list_atom_v,
                                      list_request{"state:{quoter}:", {}, 0});
    REQUIRE(tagged);
    CHECK(tagged->keys.size() == ids_under(kv, "state:{quoter}:").size());
    auto every = store.ask<key_page>(list_atom_v, list_request{"", {}, 0});
    REQUIRE(every);
    CHECK(every->keys.size() == kv.size());
  };
  {
    running_store store{file_config_for(dir.path, shards)};
    check_every_key(store);
    // A write after the upgrade lands on the order's new shard ...
    REQUIRE(store.ask<version_t>(put_atom_v, fill{ids[0], "0xt4", "new", 0}));
    kv[fill_key(ids[0], "0xt4")] = "new";
    check_every_key(store);
  }
  // ... and the next start finds it with the rest.
  running_store store{file_config_for(dir.path, shards)};
  check_every_key(store);
}

TEST_CASE("versions are never issued twice: the marks of every shard and "
          "deleted keys count") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  SECTION("a mark of an old shard is higher than anything else") {
    // A previous run with 3 shards left ~hwm-2.
    spit(dir.sub(hwm_name(2)), encode_hwm(50));
    write_log(*base, wal_name(0, 1), {put("a", "1", 20)});
    auto st = recover(*base, 1);
    REQUIRE(st);
    CHECK(st->max_version == 50);
    CHECK(slurp(dir.sub(hwm_name(0))) == encode_hwm(50));
  }
  SECTION("only a delete in the log") {
    write_log(*base, wal_name(0, 1), {put("a", "1", 19), erase("a", 20)});
    auto st = recover(*base, 1);
    REQUIRE(st);
    CHECK(st->keys == 0);
    CHECK(st->max_version == 20);
    CHECK(slurp(dir.sub(hwm_name(0))) == encode_hwm(20));
  }
}

TEST_CASE("a torn log is replayed up to the tear, counted, and folded") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  write_log(*base, wal_name(0, 2),
            {put("a", "one", 1), put("b", "two", 2),
             put("c", std::string(40, 'c'), 3)});
  auto path = dir.sub(wal_name(0, 2));
  // The last record lost its end (and the terminator after it).
  fs::resize_file(path, fs::file_size(path) - wal_terminator_bytes - 10);
  auto st = recover(*base, 2);
  REQUIRE(st);
  CHECK(st->torn_logs == 1);
  CHECK(st->log_records == 2);
  CHECK(st->keys == 2);
  CHECK(st->max_version == 2);
  CHECK(read_value(*base, "a") == "one");
  CHECK(read_value(*base, "b") == "two");
  CHECK(read_value(*base, "c") == "<error not_found>");
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("a spare log is never replayed and is removed") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  // Folded by the last run and kept for reuse: its records are all in the
  // tree (here deliberately not, to see that they are not replayed).
  write_log(*base, wal_spare_name(0), {put("ghost", "from the spare", 99)});
  write_log(*base, wal_name(0, 5), {put("real", "from the log", 4)});
  auto st = recover(*base, 1);
  REQUIRE(st);
  CHECK(st->log_records == 1);
  CHECK(st->keys == 1);
  CHECK(st->max_version == 4);
  CHECK(read_value(*base, "ghost") == "<error not_found>");
  CHECK(read_value(*base, "real") == "from the log");
  CHECK_FALSE(fs::exists(dir.sub(wal_spare_name(0))));
  CHECK_FALSE(fs::exists(dir.sub(wal_name(0, 5))));
}

TEST_CASE("temp files are neither logs nor marks nor values") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  write_tree(*base, {{"order:x", {"kept", 2, 0}}});
  // What interrupted writes leave: garbage under temp names.
  spit(dir.sub(hwm_name(1) + "~tmp"), "not a mark");
  spit(dir.sub(wal_name(0, 7) + "~tmp"), "not a log");
  spit(dir.sub("order/x.val~tmp"), "not a value");
  spit(dir.sub("order/y.val~tmp"), "not a value either");
  write_log(*base, wal_name(0, 8), {put("order:z", "z", 3)});
  auto st = recover(*base, 1);
  REQUIRE(st);
  CHECK(st->keys == 2);
  CHECK(st->log_records == 1);
  CHECK(read_value(*base, "order:x") == "kept");
  CHECK(read_value(*base, "order:y") == "<error not_found>");
  CHECK(read_value(*base, "order:z") == "z");
  // The tree's temp files are gone, the root's are left alone.
  CHECK_FALSE(fs::exists(dir.sub("order/x.val~tmp")));
  CHECK_FALSE(fs::exists(dir.sub("order/y.val~tmp")));
  CHECK(fs::exists(dir.sub(hwm_name(1) + "~tmp")));
}

TEST_CASE("recovery quarantines a corrupt value file, unless a log record "
          "of its key settles it") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  write_tree(*base, {{"order:x:1", {"damaged", 5, 0}},
                     {"order:x:2", {"damaged, then written again", 6, 0}},
                     {"order:x:3", {"fine", 7, 0}}});
  overwrite(dir.sub("order/x/1.val"), value_header_bytes + 2, "X");
  overwrite(dir.sub("order/x/2.val"), value_header_bytes + 2, "X");
  write_log(*base, wal_name(0, 1), {put("order:x:2", "from the log", 100)});
  auto st = recover(*base, 1);
  REQUIRE(st);
  CHECK(st->keys == 2);
  REQUIRE(st->quarantined.size() == 1);
  auto& q = st->quarantined[0];
  REQUIRE(q.size() == 1);
  REQUIRE(q.count("order:x:1") == 1);
  CHECK_THAT(q.at("order:x:1").what,
             Catch::Contains("checksum")
               && Catch::Contains(dir.sub("~quarantine/order/x/1.val")));
  CHECK(fs::exists(dir.sub("~quarantine/order/x/1.val")));
  // Settled by the log record, and kept.
  CHECK(fs::exists(dir.sub("~quarantine/order/x/2.val.settled")));
  CHECK(read_value(*base, "order:x:2") == "from the log");
  CHECK(read_value(*base, "order:x:3") == "fine");
}

TEST_CASE("recovery refuses damaged state, naming the file, and folds "
          "nothing") {
  temp_dir dir;
  auto base = open_locked(dir.path);
  write_tree(*base, {{"order:x:1", {"in the tree", 5, 0}}});
  // A good log whose record must survive the refusal.
  write_log(*base, wal_name(0, 1), {put("pending", "acknowledged", 100)});
  std::string file;
  std::string why;
  auto code = state_errc::backend_error;
  SECTION("a mark of the wrong size") {
    file = dir.sub(hwm_name(1));
    spit(file, encode_hwm(7).substr(0, 12));
    why = "corrupt version file";
  }
  SECTION("a mark with a bad checksum") {
    file = dir.sub(hwm_name(1));
    auto bytes = encode_hwm(7);
    bytes[9] ^= 0x01;
    spit(file, bytes);
    why = "corrupt version file";
  }
  SECTION("a symlink in the tree") {
    temp_dir outside;
    file = dir.sub("order/link");
    fs::create_directory_symlink(outside.path, file);
    why = "refusing symlink";
  }
  SECTION("a log with a bad header") {
    file = dir.sub(wal_name(2, 1));
    write_log(*base, wal_name(2, 1), {put("b", "b", 101)});
    overwrite(file, 9, "\x7f");
    why = "bad header";
  }
  SECTION("a log of records whose header was zeroed") {
    file = dir.sub(wal_name(2, 1));
    write_log(*base, wal_name(2, 1), {put("b", "b", 101)});
    overwrite(file, 0, std::string(wal_header_bytes, '\0'));
    why = "header is zeros";
  }
  SECTION("a log with a bad record before good ones") {
    file = dir.sub(wal_name(2, 1));
    write_log(*base, wal_name(2, 1),
              {put("b", std::string(50, 'b'), 101), put("c", "c", 102),
               put("d", "d", 103)});
    overwrite(file, wal_header_bytes + 40, "X");
    why = "followed by valid records";
  }
  SECTION("a log record with an invalid key") {
    file = dir.sub(wal_name(2, 1));
    write_log(*base, wal_name(2, 1),
              {put("fine", "f", 101), put("bad\x01key", "x", 102)});
    why = "invalid key";
  }
  auto st = recover(*base, 2);
  REQUIRE_FALSE(st);
  CHECK(code_of(st.error()) == code);
  CHECK_THAT(message_of(st.error()),
             Catch::Contains(why) && Catch::Contains(file));
  // Nothing folded, nothing deleted: fixing the damage loses no write.
  CHECK(fs::exists(dir.sub(wal_name(0, 1))));
  CHECK_FALSE(fs::exists(dir.sub(hwm_name(0))));
  CHECK(read_value(*base, "pending") == "<error not_found>");
  CHECK(read_value(*base, "fine") == "<error not_found>");
  CHECK((fs::exists(file) || fs::is_symlink(file)));
}

TEST_CASE("a fold the disk interrupts keeps the logs, and the next recovery "
          "completes it, and a full disk postpones it instead of failing") {
  temp_dir dir;
  auto env = std::make_shared<flaky_env>();
  auto base = open_locked(dir.path, env);
  write_tree(*base, {{"k:0", {"old0", 1, 0}}, {"k:1", {"old1", 2, 0}}});
  write_log(*base, wal_name(0, 1),
            {put("k:0", "new0", 10), put("k:1", "new1", 11),
             put("k:2", "new2", 12), erase("k:0", 13), put("k:0", "new0b", 14)});
  bool disk_full = true; // the writes fail with ENOSPC
  SECTION("an fsync fails") {
    env->fail_syncs = true;
    disk_full = false;
  }
  SECTION("the second value file cannot be written") {
    // The first key is folded, the rest is not.
    env->writes_before_failure = 1;
  }
  SECTION("the version mark cannot be written") {
    // Three value files, then the mark.
    env->writes_before_failure = 3;
  }
  auto log_unlinks = env->log_unlinks.load();
  auto st = recover(*base, 1);
  if (disk_full) {
    // Started anyway: the log stays, its changes go to the shard's memory,
    // and the shard's first log comes after it.
    REQUIRE(st);
    CHECK_THAT(st->fold_postponed, Catch::Contains("No space left"));
    REQUIRE(st->inherited);
    CHECK(st->inherited->names == std::vector<std::string>{wal_name(0, 1)});
    CHECK(st->inherited->shards_left == 1);
    CHECK(st->first_log_generation == 2);
    REQUIRE(st->unfolded.size() == 1);
    CHECK(st->unfolded[0].size() == 3);
    CHECK(st->unfolded[0].at("k:0").data.value == "new0b");
    CHECK(st->keys == 3);
  } else {
    REQUIRE_FALSE(st);
    CHECK(code_of(st.error()) == state_errc::io_error);
  }
  CHECK(fs::exists(dir.sub(wal_name(0, 1))));
  CHECK(env->log_unlinks.load() == log_unlinks); // no log deleted
  // What the failed fold wrote is gone, but for whole value files.
  for (auto& e : fs::recursive_directory_iterator(dir.path))
    CHECK(e.path().string().find("~tmp") == std::string::npos);
  // Each key is old or new in the tree, never torn.
  for (auto key : {"k:0", "k:1"}) {
    auto v = read_value(*base, key);
    CHECK((v.rfind("old", 0) == 0 || v.rfind("new", 0) == 0));
  }
  env->fail_syncs = false;
  env->writes_before_failure = -1;
  base.reset();
  base = open_locked(dir.path, env);
  st = recover(*base, 1);
  REQUIRE(st);
  CHECK(st->keys == 3);
  CHECK(st->max_version == 14);
  CHECK(read_value(*base, "k:0") == "new0b");
  CHECK(read_value(*base, "k:1") == "new1");
  CHECK(read_value(*base, "k:2") == "new2");
  CHECK_FALSE(fs::exists(dir.sub(wal_name(0, 1))));
  CHECK(slurp(dir.sub(hwm_name(0))) == encode_hwm(14));
  for (auto& e : fs::recursive_directory_iterator(dir.path))
    CHECK(e.path().string().find("~tmp") == std::string::npos);
}

TEST_CASE("logs are removed oldest first, so that a start cut short after "
          "removing some never brings a deleted key back") {
  // A put in generation 9, its delete in generation 10: "~wal-0-10.log"
  // sorts (and is listed) before "~wal-0-9.log". Removing the delete's log
  // first and stopping there would leave the put to be replayed over a tree
  // the delete was folded into.
  temp_dir dir;
  auto env = std::make_shared<flaky_env>();
  auto base = open_locked(dir.path, env);
  write_log(*base, wal_name(0, 9), {put("k:gone", "old", 5)});
  write_log(*base, wal_name(0, 10), {erase("k:gone", 6)});
  write_log(*base, wal_name(0, 11), {put("k:kept", "kept", 7)});

  SECTION("inherited logs are handed on oldest first (the store removes "
          "them in that order)") {
    auto st = recover(*base, 2, recover_options{false, false});
    REQUIRE(st);
    REQUIRE(st->inherited);
    CHECK(st->inherited->names
          == std::vector<std::string>{wal_name(0, 9), wal_name(0, 10),
                                      wal_name(0, 11)});
    CHECK(st->first_log_generation == 12);
  }
  SECTION("a fold at start removes them oldest first") {
    env->log_unlinks_before_failure = 1; // then the power fails, say
    auto st = recover(*base, 1);
    REQUIRE_FALSE(st);
    CHECK_THAT(message_of(st.error()), Catch::Contains("cannot remove folded "
                                                       "log"));
    CHECK(env->logs_removed == std::vector<std::string>{wal_name(0, 9)});
    env->log_unlinks_before_failure = -1;
    base.reset();
    base = open_locked(dir.path, env);
    st = recover(*base, 1);
    REQUIRE(st);
    CHECK(st->keys == 1);
    CHECK(read_value(*base, "k:gone") == "<error not_found>");
    CHECK(read_value(*base, "k:kept") == "kept");
    CHECK(env->logs_removed
          == std::vector<std::string>{wal_name(0, 9), wal_name(0, 10),
                                      wal_name(0, 11)});
  }
}

TEST_CASE("the backend's own file names are never a key's file") {
  for (auto name : {wal_name(0, 0), wal_name(12, 345), wal_spare_name(3),
                    hwm_name(0), hwm_name(9), index_file_name(0),
                    index_file_name(7), fold_mark_name(2)}) {
    CHECK(is_backend_file(name));
    CHECK_FALSE(path_to_key({name}));
  }
  CHECK(wal_name(1, 2) != wal_name(12, 0));
  // The mark encodes its version, checksummed.
  CHECK(encode_hwm(1) != encode_hwm(2));
  CHECK(encode_hwm(0x0102030405060708u).size() == 16);
}

namespace {

/// Every key of `st` with its version, across shards.
std::map<std::string, version_t> versions_of(const recovered_state& st) {
  std::map<std::string, version_t> out;
  for (auto& shard : st.shards)
    for (auto& [key, meta] : shard)
      out.emplace(key, meta.version);
  return out;
}

/// Recovers `path` as the store does (logs handed to the shards).
caf::expected<recovered_state> start_over(const std::string& path,
                                          size_t shards) {
  auto base = open_locked(path);
  recover_options how;
  how.fold_logs = false;
  return recover(*base, shards, how);
}

} // namespace

TEST_CASE("a start reads the shards' key index instead of every value file, "
          "and scans when the index is missing, damaged or of other shards") {
  temp_dir dir;
  {
    auto base = open_locked(dir.path);
    write_tree(*base, {{"order:a", {"1", 5, 0}},
                       {"order:b", {"22", 6, 7000}},
                       {"fill:c", {"333", 7, 0}}});
    write_log(*base, wal_name(0, 4), {put("order:d", "4444", 9)});
  }
  auto first = start_over(dir.path, 2);
  REQUIRE(first);
  CHECK_FALSE(first->from_index);
  CHECK(first->scanned_because == "it has no key index yet");
  auto expected = versions_of(*first);
  CHECK(expected.size() == 4);
  // The index describes the tree, not the log: order:d comes from the log.
  auto second = start_over(dir.path, 2);
  REQUIRE(second);
  CHECK(second->from_index);
  CHECK(versions_of(*second) == expected);
  CHECK(second->shards[shard_index("order:b", 2)].at("order:b").expires_at_ms
        == 7000);
  CHECK(second->shards[shard_index("fill:c", 2)].at("fill:c").size == 3);
  CHECK(second->max_version == 9);
  // Proof that the value files were not read: one added behind the
  // index's back is not seen, until a scan.
  {
    auto base = open_locked(dir.path);
    write_tree(*base, {{"order:e", {"5", 8, 0}}});
  }
  auto third = start_over(dir.path, 2);
  REQUIRE(third);
  CHECK(third->from_index);
  CHECK(versions_of(*third).count("order:e") == 0);
  SECTION("a damaged index") {
    auto name = dir.sub(index_file_name(1));
    auto bytes = slurp(name);
    bytes[bytes.size() / 2] ^= 0x20;
    spit(name, bytes);
    auto st = start_over(dir.path, 2);
    REQUIRE(st);
    CHECK_FALSE(st->from_index);
    CHECK(st->scanned_because.find("corrupt index file") != std::string::npos);
    CHECK(versions_of(*st).count("order:e") == 1);
    // The scan wrote a new index: the next start reads it.
    auto next = start_over(dir.path, 2);
    REQUIRE(next);
    CHECK(next->from_index);
    CHECK(versions_of(*next) == versions_of(*st));
  }
  SECTION("a missing one") {
    fs::remove(dir.sub(index_file_name(0)));
    auto st = start_over(dir.path, 2);
    REQUIRE(st);
    CHECK_FALSE(st->from_index);
    CHECK(st->scanned_because.find(index_file_name(0)) != std::string::npos);
  }
  SECTION("another shard count, and back") {
    auto st = start_over(dir.path, 3);
    REQUIRE(st);
    CHECK_FALSE(st->from_index);
    CHECK(st->scanned_because.find("of 2, not") != std::string::npos);
    CHECK(versions_of(*st).count("order:e") == 1);
    CHECK(fs::exists(dir.sub(index_file_name(2))));
    auto back = start_over(dir.path, 2);
    REQUIRE(back);
    CHECK_FALSE(back->from_index);
    CHECK(back->scanned_because.find("more than 2 shards")
          != std::string::npos);
    // The three-shard set is gone, not mixed with the new one.
    CHECK_FALSE(fs::exists(dir.sub(index_file_name(2))));
    auto again = start_over(dir.path, 2);
    REQUIRE(again);
    CHECK(again->from_index);
  }
  SECTION("indexes of two sets") {
    // Each file is valid alone; together they are not one state.
    auto kept = slurp(dir.sub(index_file_name(0)));
    REQUIRE(start_over(dir.path, 3));
    REQUIRE(start_over(dir.path, 2));
    spit(dir.sub(index_file_name(0)), kept);
    auto st = start_over(dir.path, 2);
    REQUIRE(st);
    CHECK_FALSE(st->from_index);
    CHECK(st->scanned_because.find("another set") != std::string::npos);
  }
}

TEST_CASE("an index file is refused unless every byte of it checks") {
  index_file_builder b;
  b.add("a", key_meta{1, 0, 10});
  b.add("b:c", key_meta{2, 99, 0});
  auto bytes = b.finish(index_file_header{1, 2, 42, 0});
  std::vector<std::pair<std::string, key_meta>> seen;
  auto visit = [&](std::string_view key, const key_meta& m) {
    seen.emplace_back(std::string{key}, m);
  };
  auto h = read_index_file(bytes, "x", visit);
  REQUIRE(h);
  CHECK(h->shard == 1);
  CHECK(h->shard_count == 2);
  CHECK(h->set == 42);
  CHECK(h->keys == 2);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].first == "b:c");
  CHECK(seen[1].second.expires_at_ms == 99);
  // Any flipped bit, any cut: refused before a single key is visited.
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= 0x01;
    seen.clear();
    CHECK_FALSE(read_index_file(bad, "x", visit));
    CHECK(seen.empty());
    CHECK_FALSE(read_index_file(bytes.substr(0, i), "x", visit));
  }
  // Out of order, even with a good checksum: a merge would go wrong.
  index_file_builder unsorted;
  unsorted.add("b", key_meta{1, 0, 1});
  unsorted.add("a", key_meta{2, 0, 1});
  auto refused = read_index_file(unsorted.finish({0, 1, 1, 0}), "x", {});
  REQUIRE_FALSE(refused);
  CHECK(message_of(refused.error()).find("out of order") != std::string::npos);
}

TEST_CASE("a start after an interrupted fold walks the tree for its temp "
          "files and keeps the index") {
  temp_dir dir;
  {
    auto base = open_locked(dir.path);
    write_tree(*base, {{"order:x:1", {"v", 3, 0}}});
  }
  REQUIRE(start_over(dir.path, 1)); // writes the index
  spit(dir.sub("order/x/2.val~tmp"), "half a fold");
  spit(dir.sub("order/x/1.val~tmp"), "half a fold");
  SECTION("with the fold's mark of an earlier version (empty)") {
    spit(dir.sub(fold_mark_name(0)), "");
    auto st = start_over(dir.path, 1);
    REQUIRE(st);
    CHECK(st->from_index);
    CHECK(st->removed_temps);
    CHECK_FALSE(fs::exists(dir.sub("order/x/2.val~tmp")));
    CHECK_FALSE(fs::exists(dir.sub("order/x/1.val~tmp")));
    CHECK_FALSE(fs::exists(dir.sub(fold_mark_name(0))));
    CHECK(read_value(*open_locked(dir.path), "order:x:1") == "v");
  }
  SECTION("without it, the walk is not paid for") {
    auto st = start_over(dir.path, 1);
    REQUIRE(st);
    CHECK(st->from_index);
    CHECK_FALSE(st->removed_temps);
    CHECK(fs::exists(dir.sub("order/x/2.val~tmp")));
  }
}

TEST_CASE("a fold's mark names its keys: a start leaves their temp files, "
          "the next fold overwrites or removes them, and a mark that does "
          "not decode is walked for") {
  temp_dir dir;
  {
    auto base = open_locked(dir.path);
    write_tree(*base, {{"order:x:1", {"v1", 3, 0}},
                       {"order:x:2", {"v2", 4, 0}}});
  }
  REQUIRE(start_over(dir.path, 1)); // writes the index
  std::string k1 = "order:x:1", k2 = "order:x:2", k3 = "order:y:3";
  spit(dir.sub("order/x/1.val~tmp"), "half a fold");
  spit(dir.sub("order/x/2.val~tmp"), "half a fold");
  spit(dir.sub("order/y/3.val~tmp"), "half a fold");
  // Named by no mark: only a walk removes it.
  spit(dir.sub("order/x/9.val~tmp"), "a file no mark names");
  SECTION("marks of this version") {
    {
      auto base = open_locked(dir.path);
      // A fold failed and left its mark; the next one, cut short by a
      // stop, kept its keys in its own.
      auto first = write_fold_mark(base->tree(), 0, {&k1, &k3});
      REQUIRE(first);
      CHECK(first->empty());
      auto second = write_fold_mark(base->tree(), 0, {&k2});
      REQUIRE(second);
      CHECK(*second == std::vector<std::string>{k1, k3});
      auto named = decode_fold_mark(slurp(dir.sub(fold_mark_name(0))));
      REQUIRE(named);
      CHECK(*named == std::vector<std::string>{k1, k2, k3});
    }
    auto st = start_over(dir.path, 1);
    REQUIRE(st);
    CHECK(st->from_index);
    CHECK(st->temps_left_to_folds);
    CHECK_FALSE(st->removed_temps);
    // Nothing walked, nothing removed: the mark stays for the next fold.
    CHECK(fs::exists(dir.sub("order/x/1.val~tmp")));
    CHECK(fs::exists(dir.sub("order/x/9.val~tmp")));
    CHECK(fs::exists(dir.sub(fold_mark_name(0))));
    // The next fold writes order:x:2 and removes the other two it names.
    auto store = open_store(file_config_for(dir.path, 1));
    REQUIRE(store);
    REQUIRE(store->put(k2, "two"));
    REQUIRE_FALSE(store->checkpoint_all());
    CHECK_FALSE(fs::exists(dir.sub("order/x/1.val~tmp")));
    CHECK_FALSE(fs::exists(dir.sub("order/x/2.val~tmp")));
    CHECK_FALSE(fs::exists(dir.sub("order/y/3.val~tmp")));
    CHECK(fs::exists(dir.sub("order/x/9.val~tmp"))); // no walk
    CHECK_FALSE(fs::exists(dir.sub(fold_mark_name(0))));
    CHECK(store->get(k1)->value == "v1");
    CHECK(store->get(k2)->value == "two");
  }
  SECTION("a damaged mark: a fold keeps it as it is, a start walks") {
    {
      auto base = open_locked(dir.path);
      REQUIRE(write_fold_mark(base->tree(), 0, {&k1}));
    }
    auto bytes = slurp(dir.sub(fold_mark_name(0)));
    bytes[bytes.size() / 2] ^= 1;
    spit(dir.sub(fold_mark_name(0)), bytes);
    {
      auto base = open_locked(dir.path);
      auto leftovers = write_fold_mark(base->tree(), 0, {&k2});
      REQUIRE(leftovers);
      CHECK(leftovers->empty());
    }
    CHECK(slurp(dir.sub(fold_mark_name(0))) == bytes);
    auto st = start_over(dir.path, 1);
    REQUIRE(st);
    CHECK(st->removed_temps);
    CHECK_FALSE(st->temps_left_to_folds);
    CHECK_FALSE(fs::exists(dir.sub("order/x/1.val~tmp")));
    CHECK_FALSE(fs::exists(dir.sub("order/x/9.val~tmp")));
    CHECK_FALSE(fs::exists(dir.sub(fold_mark_name(0))));
  }
}

TEST_CASE("a fold mark decodes only whole: every cut, a flipped byte, an "
          "invalid key and a count past its bytes are refused") {
  std::string a = "order:1", b = "fill:22", empty;
  auto bytes = encode_fold_mark({&a, &b});
  auto keys = decode_fold_mark(bytes);
  REQUIRE(keys);
  CHECK(*keys == std::vector<std::string>{a, b});
  CHECK(decode_fold_mark(encode_fold_mark({})) == std::vector<std::string>{});
  for (size_t i = 0; i < bytes.size(); ++i) {
    CAPTURE(i);
    CHECK_FALSE(decode_fold_mark(bytes.substr(0, i)));
    auto flipped = bytes;
    flipped[i] ^= 0x20;
    CHECK_FALSE(decode_fold_mark(flipped));
  }
  CHECK_FALSE(decode_fold_mark(encode_fold_mark({&empty})));
  std::string bad = "a\x01b"; // a control byte: no key
  CHECK_FALSE(decode_fold_mark(encode_fold_mark({&bad})));
}
