// The file-per-key tree on its own (backends/file/tree.hpp): value files
// written, read and removed through it, keys that need percent-encoding,
// temp files left by an interrupted checkpoint, torn and corrupt value
// files, symlinks, and what a failing disk leaves behind (every key old or
// new, never torn).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "backends/file/layout.hpp"
#include "backends/file/tree.hpp"
#include "backends/file/value.hpp"
#include "tests/support/crash_env.hpp"
#include "tests/support/file_test_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
namespace fs = std::filesystem;

namespace {

/// A failing_env that also counts syncs: file data (fdatasync), directories
/// (fsync) and syncfs.
class counting_env : public failing_env {
public:
  std::atomic<size_t> data_syncs{0};
  std::atomic<size_t> dir_syncs{0};
  std::atomic<size_t> fs_syncs{0};

  int sync(int fd, bool data_only) override {
    ++(data_only ? data_syncs : dir_syncs);
    return failing_env::sync(fd, data_only);
  }
  int sync_fs(int fd) override {
    ++fs_syncs;
    return failing_env::sync_fs(fd);
  }
  void reset_counts() {
    data_syncs = dir_syncs = fs_syncs = 0;
  }
};

/// A temp directory opened as the root of a tree.
struct tree_dir {
  temp_dir dir;
  std::shared_ptr<file_env> env;
  unique_fd root;

  explicit tree_dir(std::shared_ptr<file_env> e = default_file_env())
    : env(std::move(e)) {
    root = unique_fd{env.get(), ::open(dir.path.c_str(),
                                       O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    REQUIRE(root);
  }

  file_tree tree() const { return file_tree{env, root.get(), dir.path}; }
  std::string sub(const std::string& rel) const { return dir.sub(rel); }
};

entry value(std::string v, version_t version, unix_ms expires = 0) {
  return entry{std::move(v), version, expires};
}

/// Applies puts (an engaged entry) and removals (nullopt) in one apply().
caf::error apply_changes(const file_tree& tree,
                         const std::vector<std::pair<std::string,
                                                     std::optional<entry>>>& kv) {
  std::vector<tree_change> changes;
  for (auto& [key, e] : kv)
    changes.push_back({&key, e ? &*e : nullptr});
  return tree.apply(std::move(changes));
}

caf::error put_all(const file_tree& tree,
                   const std::map<std::string, entry>& kv) {
  std::vector<std::pair<std::string, std::optional<entry>>> changes;
  for (auto& [key, e] : kv)
    changes.emplace_back(key, e);
  return apply_changes(tree, changes);
}

caf::expected<std::map<std::string, entry>> scan_all(const file_tree& tree) {
  std::map<std::string, entry> out;
  auto err = tree.scan([&](std::string key, entry e) -> caf::error {
    auto inserted = out.emplace(std::move(key), std::move(e)).second;
    CHECK(inserted); // every key visited once
    return {};
  });
  if (err)
    return err;
  return out;
}

/// Every regular file under `root`, relative to it.
std::set<std::string> files_under(const std::string& root) {
  std::set<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (!e.is_symlink() && e.is_regular_file())
      out.insert(fs::relative(e.path(), root).string());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The value read for `key`, or a description of the error.
std::string read_value(const file_tree& tree, const std::string& key) {
  auto got = tree.read(key);
  if (!got)
    return "<error " + std::string{to_string(code_of(got.error()))} + ">";
  return got->value;
}

/// The code a read of `key` fails with (none when it succeeds).
state_errc read_error(const file_tree& tree, const std::string& key) {
  auto got = tree.read(key);
  return got ? state_errc::none : code_of(got.error());
}

bool same(const entry& a, const entry& b) {
  return a.value == b.value && a.version == b.version
         && a.expires_at_ms == b.expires_at_ms;
}

/// Opens the directories of `path` (from key_to_path) below `root` into
/// `dirs`; the fd of the leaf's directory.
int open_parents(file_env& env, int root, const std::vector<std::string>& path,
                 std::vector<unique_fd>& dirs) {
  int at = root;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    int fd = env.open_at(at, path[i], O_RDONLY | O_DIRECTORY, 0);
    REQUIRE(fd >= 0);
    dirs.emplace_back(&env, fd);
    at = fd;
  }
  return at;
}

} // namespace

TEST_CASE("apply writes value files that read returns, and a later apply "
          "replaces them") {
  tree_dir d;
  auto tree = d.tree();
  REQUIRE_FALSE(put_all(tree, {{"order:a", value("first", 3, 1234)},
                               {"order:a:b", value("nested", 4)},
                               {"top", value(std::string("\0bin\xff", 5), 5)}}));
  // order:a and order:a:b coexist: order/a.val and order/a/b.val.
  CHECK(files_under(d.dir.path)
        == std::set<std::string>{"order/a.val", "order/a/b.val", "top.val"});
  auto a = tree.read("order:a");
  REQUIRE(a);
  CHECK(same(*a, value("first", 3, 1234)));
  auto b = tree.read("order:a:b");
  REQUIRE(b);
  CHECK(same(*b, value("nested", 4)));
  auto top = tree.read("top");
  REQUIRE(top);
  CHECK(top->value == std::string("\0bin\xff", 5));
  // The file holds exactly the encoded value.
  CHECK(slurp(d.sub("order/a.val")) == encode_value_file(value("first", 3, 1234)));
  // A replacement: the new contents, no temp file left beside it.
  REQUIRE_FALSE(put_all(tree, {{"order:a", value("second", 9)}}));
  a = tree.read("order:a");
  REQUIRE(a);
  CHECK(same(*a, value("second", 9)));
  CHECK(files_under(d.dir.path)
        == std::set<std::string>{"order/a.val", "order/a/b.val", "top.val"});
  // An empty value is a value.
  REQUIRE_FALSE(put_all(tree, {{"empty", value("", 10)}}));
  auto empty = tree.read("empty");
  REQUIRE(empty);
  CHECK(empty->value.empty());
  CHECK(empty->version == 10);
}

TEST_CASE("read of an absent key is not_found, whether or not its "
          "directory exists") {
  tree_dir d;
  auto tree = d.tree();
  REQUIRE_FALSE(put_all(tree, {{"order:x:1", value("v", 1)}}));
  for (auto key : {"order:x:2", "order:y:1", "nothing", "order:x"}) {
    auto got = tree.read(key);
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == state_errc::not_found);
  }
  // A read creates nothing.
  CHECK(files_under(d.dir.path) == std::set<std::string>{"order/x/1.val"});
  CHECK_FALSE(fs::exists(d.sub("order/y")));
}

TEST_CASE("apply removes value files, and removing an absent key succeeds") {
  tree_dir d;
  auto tree = d.tree();
  REQUIRE_FALSE(put_all(tree, {{"order:x:1", value("1", 1)},
                               {"order:x:2", value("2", 2)},
                               {"top", value("t", 3)}}));
  // Removals and a write in one apply; two of the removals have nothing to
  // remove (one's directory never existed).
  REQUIRE_FALSE(apply_changes(tree, {{"order:x:1", std::nullopt},
                             {"top", std::nullopt},
                             {"order:x:3", value("3", 4)},
                             {"order:x:9", std::nullopt},
                             {"never:was:here", std::nullopt}}));
  CHECK(read_error(tree, "order:x:1") == state_errc::not_found);
  CHECK(read_error(tree, "top") == state_errc::not_found);
  CHECK(read_value(tree, "order:x:2") == "2");
  CHECK(read_value(tree, "order:x:3") == "3");
  CHECK(files_under(d.dir.path)
        == std::set<std::string>{"order/x/2.val", "order/x/3.val"});
  // Removing a key never creates its directory.
  CHECK_FALSE(fs::exists(d.sub("never")));
  auto all = scan_all(tree);
  REQUIRE(all);
  CHECK(all->size() == 2);
}

TEST_CASE("keys that need percent-encoding get safe files inside base_path "
          "and scan gives the keys back") {
  tree_dir d;
  auto tree = d.tree();
  std::string long_key = "state:" + std::string(300, '%');
  std::map<std::string, entry> kv;
  std::vector<std::string> keys = {
    "..:x",     ".:..",  "a/b%c", "~lock",   "~wal-0-0.log", "a::b",
    "x.val:y",  "x.val", " ",     "\xe2\x82\xac", "a~tmp", long_key};
  version_t v = 1;
  for (auto& k : keys)
    kv.emplace(k, value("value of " + k, v++));
  REQUIRE_FALSE(put_all(tree, kv));
  auto files = files_under(d.dir.path);
  // The encodings, spelled out (not derived from the layout code).
  for (auto expected :
       {"%2E%2E/x.val", "%2E/%2E%2E.val", "a%2Fb%25c.val", "%7Elock.val",
        "%7Ewal-0-0.log.val", "a/%/b.val", "x%2Eval/y.val", "x.val.val",
        "%20.val", "%E2%82%AC.val", "a%7Etmp.val"})
    CHECK(files.count(expected) == 1);
  // The long segment is split into directories of at most piece_bytes.
  auto long_path = key_to_path(long_key);
  REQUIRE(long_path.size() > 3);
  CHECK(files.count(join_path(long_path)) == 1);
  for (auto& f : files)
    for (auto& part : fs::path(f))
      CHECK(part.string().size() <= piece_bytes + 4);
  CHECK(files.size() == keys.size());
  // Nothing at the root looks like a backend file, nothing escaped.
  for (auto& e : fs::directory_iterator(d.dir.path))
    CHECK_FALSE(is_backend_file(e.path().filename().string()));
  CHECK_FALSE(fs::exists(fs::path(d.dir.path).parent_path() / "x.val"));
  for (auto& k : keys) {
    auto got = tree.read(k);
    REQUIRE(got);
    CHECK(same(*got, kv.at(k)));
  }
  auto all = scan_all(tree);
  REQUIRE(all);
  REQUIRE(all->size() == kv.size());
  for (auto& [k, e] : kv) {
    REQUIRE(all->count(k) == 1);
    CHECK(same(all->at(k), e));
  }
}

TEST_CASE("scan removes temp files left by an interrupted checkpoint and "
          "skips the backend's own files") {
  tree_dir d;
  auto tree = d.tree();
  REQUIRE_FALSE(put_all(tree, {{"order:a", value("a", 1)},
                               {"root", value("r", 2)}}));
  // What a crash between write and rename leaves: the new contents under the
  // temp name (here a torn one), next to the old file or alone.
  spit(d.sub("order/a.val~tmp"), "torn new cont");
  spit(d.sub("order/b.val~tmp"),
       encode_value_file(value("complete but never renamed", 3)));
  fs::create_directories(d.sub("order/new"));
  spit(d.sub("order/new/c.val~tmp"), "x");
  spit(d.sub("root.val~tmp"), "");
  // The backend's own files at the root are neither keys nor removed.
  spit(d.sub("~lock"), "");
  spit(d.sub("~wal-0-1.log"), "not a value file");
  spit(d.sub("~hwm-0~tmp"), "garbage");
  // A file that no key maps to is ignored, not an error.
  spit(d.sub("order/README"), "hello");
  spit(d.sub("order/%2e.val"), encode_value_file(value("lowercase hex", 4)));
  auto all = scan_all(tree);
  REQUIRE(all);
  CHECK(all->size() == 2);
  CHECK(all->at("order:a").value == "a");
  CHECK(all->at("root").value == "r");
  CHECK(files_under(d.dir.path)
        == std::set<std::string>{"order/a.val", "root.val", "~lock",
                                 "~wal-0-1.log", "~hwm-0~tmp", "order/README",
                                 "order/%2e.val"});
  // read never saw the temp files either.
  CHECK(read_value(tree, "order:a") == "a");
  CHECK(read_error(tree, "order:b") == state_errc::not_found);
}

TEST_CASE("remove_temps_of removes the named keys' temp files durably, and "
          "no others") {
  // On a disk that keeps only what was synced: a fold removes the temp
  // files its mark names and then drops the mark, so a removal the power
  // could undo would leave a temp file no mark names, never removed again.
  temp_dir dir;
  auto env = std::make_shared<crash_env>(dir.path);
  auto open_root = [&] {
    int fd = env->open_at(AT_FDCWD, dir.path, O_RDONLY | O_DIRECTORY, 0);
    REQUIRE(fd >= 0);
    return unique_fd{env.get(), fd};
  };
  // Keys in three directories, each with a durable value file and a
  // durable temp file beside it (what an interrupted fold leaves).
  const std::vector<std::string> keys{"a:1", "b:1", "c:x:1"};
  {
    auto root = open_root();
    file_tree tree{env, root.get(), dir.path};
    std::map<std::string, entry> kv;
    for (auto& key : keys)
      kv.emplace(key, value("old " + key, 1));
    REQUIRE_FALSE(put_all(tree, kv));
    for (auto& key : keys) {
      auto path = key_to_path(key);
      std::vector<unique_fd> dirs;
      int at = open_parents(*env, root.get(), path, dirs);
      int fd = env->open_at(at, temp_name(path.back()),
                            O_WRONLY | O_CREAT | O_TRUNC, 0600);
      REQUIRE(fd >= 0);
      unique_fd temp{env.get(), fd};
      REQUIRE(env->write_at(fd, "torn", 4, 0) == 0);
      REQUIRE(env->sync(fd, true) == 0);
      REQUIRE(env->sync(at, false) == 0);
    }
  }
  auto temps_left = [&] {
    auto root = open_root();
    std::set<std::string> out;
    for (auto& key : keys) {
      auto path = key_to_path(key);
      std::vector<unique_fd> dirs;
      int at = open_parents(*env, root.get(), path, dirs);
      std::vector<dir_entry> entries;
      REQUIRE(env->list_dir(at, entries) == 0);
      for (auto& e : entries)
        if (e.name == temp_name(path.back()))
          out.insert(key);
    }
    return out;
  };
  REQUIRE(temps_left() == std::set<std::string>(keys.begin(), keys.end()));
  {
    auto root = open_root();
    file_tree tree{env, root.get(), dir.path};
    // "none:such" has no directory: nothing to remove, not an error.
    REQUIRE_FALSE(tree.remove_temps_of({"a:1", "c:x:1", "none:such"}));
  }
  // The power fails now: only what was synced is left.
  env->reboot_synced_only();
  CHECK(temps_left() == std::set<std::string>{"b:1"});
  auto root = open_root();
  file_tree tree{env, root.get(), dir.path};
  for (auto& key : keys)
    CHECK(read_value(tree, key) == "old " + key);
}

TEST_CASE("a scan stops at the first error its visitor returns") {
  tree_dir d;
  auto tree = d.tree();
  REQUIRE_FALSE(put_all(tree, {{"a", value("1", 1)},
                               {"b", value("2", 2)},
                               {"c:d", value("3", 3)}}));
  size_t visits = 0;
  auto err = tree.scan([&](std::string, entry) -> caf::error {
    ++visits;
    return make_state_error(state_errc::capacity_exceeded, "enough");
  });
  REQUIRE(err);
  CHECK(code_of(err) == state_errc::capacity_exceeded);
  CHECK(visits == 1);
}

TEST_CASE("a torn or corrupt value file is backend_error naming the file, "
          "for read and for scan") {
  tree_dir d;
  auto tree = d.tree();
  REQUIRE_FALSE(put_all(tree, {{"order:x:1", value("hello world", 7)},
                               {"order:x:2", value("fine", 8)}}));
  auto path = d.sub("order/x/1.val");
  auto good = slurp(path);
  REQUIRE(good.size() == value_header_bytes + 11);
  std::string why;
  SECTION("torn inside the header") {
    spit(path, good.substr(0, 10));
    why = "shorter than its header";
  }
  SECTION("empty") {
    spit(path, "");
    why = "shorter than its header";
  }
  SECTION("torn inside the value") {
    spit(path, good.substr(0, good.size() - 4));
    why = "checksum mismatch";
  }
  SECTION("a flipped bit in the value") {
    auto bad = good;
    bad[value_header_bytes + 3] ^= 0x01;
    spit(path, bad);
    why = "checksum mismatch";
  }
  SECTION("a flipped bit in the version") {
    auto bad = good;
    bad[8] ^= 0x10;
    spit(path, bad);
    why = "checksum mismatch";
  }
  SECTION("bad magic") {
    auto bad = good;
    bad[0] = 'X';
    spit(path, bad);
    why = "bad magic";
  }
  SECTION("extra bytes after the value") {
    spit(path, good + "tail");
    why = "checksum mismatch";
  }
  auto got = tree.read("order:x:1");
  REQUIRE_FALSE(got);
  CHECK(code_of(got.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(got.error()),
             Catch::Contains("corrupt value file") && Catch::Contains(path)
               && Catch::Contains(why));
  // The neighbour is still served.
  CHECK(read_value(tree, "order:x:2") == "fine");
  auto all = scan_all(tree);
  REQUIRE_FALSE(all);
  CHECK(code_of(all.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(all.error()),
             Catch::Contains("corrupt value file") && Catch::Contains(path));
  // Nothing was repaired or removed behind the caller's back.
  CHECK(fs::exists(path));
  // A new apply replaces the corrupt file.
  REQUIRE_FALSE(put_all(tree, {{"order:x:1", value("again", 9)}}));
  CHECK(read_value(tree, "order:x:1") == "again");
  CHECK(scan_all(tree));
}

TEST_CASE("symlinks and files in place of directories are refused, never "
          "followed") {
  temp_dir outer;
  auto base = outer.sub("base");
  auto outside = outer.sub("outside");
  fs::create_directories(base);
  fs::create_directories(outside);
  unique_fd root{default_file_env().get(),
                 ::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  REQUIRE(root);
  file_tree tree{default_file_env(), root.get(), base};
  spit(outside + "/secret.val",
       encode_value_file(value("outside base_path", 1)));
  SECTION("a directory symlink") {
    fs::create_directory_symlink(outside, base + "/order");
    auto got = tree.read("order:secret");
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == state_errc::io_error);
    CHECK_THAT(message_of(got.error()), Catch::Contains("refusing to follow"));
    auto err = put_all(tree, {{"order:planted", value("x", 2)}});
    REQUIRE(err);
    CHECK_THAT(message_of(err), Catch::Contains("refusing to follow"));
    CHECK_FALSE(fs::exists(outside + "/planted.val"));
    CHECK_FALSE(fs::exists(outside + "/planted.val~tmp"));
    auto all = scan_all(tree);
    REQUIRE_FALSE(all);
    CHECK(code_of(all.error()) == state_errc::backend_error);
    CHECK_THAT(message_of(all.error()),
               Catch::Contains("refusing symlink")
                 && Catch::Contains(base + "/order"));
  }
  SECTION("a leaf symlink") {
    fs::create_symlink(outside + "/secret.val", base + "/leaf.val");
    auto got = tree.read("leaf");
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == state_errc::io_error);
    auto all = scan_all(tree);
    REQUIRE_FALSE(all);
    CHECK_THAT(message_of(all.error()), Catch::Contains("refusing symlink"));
    // A write replaces the link itself; the target is untouched.
    REQUIRE_FALSE(put_all(tree, {{"leaf", value("mine", 3)}}));
    CHECK_FALSE(fs::is_symlink(base + "/leaf.val"));
    CHECK(read_value(tree, "leaf") == "mine");
    CHECK(slurp(outside + "/secret.val")
          == encode_value_file(value("outside base_path", 1)));
  }
  SECTION("a regular file where a directory belongs") {
    spit(base + "/order", "I am a file");
    auto got = tree.read("order:x");
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == state_errc::io_error);
    CHECK_THAT(message_of(got.error()), Catch::Contains("not a directory"));
    auto err = put_all(tree, {{"order:x", value("x", 2)}});
    REQUIRE(err);
    CHECK(code_of(err) == state_errc::io_error);
    CHECK(slurp(base + "/order") == "I am a file");
  }
}

TEST_CASE("write_root_file replaces a backend file without leaving a temp "
          "file, and scan skips it") {
  tree_dir d;
  auto tree = d.tree();
  REQUIRE_FALSE(tree.write_root_file("~hwm-0", "first"));
  REQUIRE_FALSE(tree.write_root_file("~hwm-0", "second, longer"));
  CHECK(slurp(d.sub("~hwm-0")) == "second, longer");
  REQUIRE_FALSE(tree.write_root_file("~hwm-0", "3"));
  CHECK(slurp(d.sub("~hwm-0")) == "3");
  CHECK(files_under(d.dir.path) == std::set<std::string>{"~hwm-0"});
  auto all = scan_all(tree);
  REQUIRE(all);
  CHECK(all->empty());
}

TEST_CASE("up to batch_threshold changes sync each file and directory, "
          "above it two syncfs barriers") {
  auto env = std::make_shared<counting_env>();
  tree_dir d{env};
  auto tree = d.tree();
  auto batch = [](size_t n, int round) {
    std::map<std::string, entry> kv;
    for (size_t i = 0; i < n; ++i)
      kv.emplace("k:" + std::to_string(i),
                 value("r" + std::to_string(round), 1 + round));
    return kv;
  };
  SECTION("one by one") {
    REQUIRE_FALSE(put_all(tree, batch(file_tree::batch_threshold, 1)));
    CHECK(env->data_syncs == file_tree::batch_threshold);
    // k/ gained the files, the root gained k/.
    CHECK(env->dir_syncs == 2);
    CHECK(env->fs_syncs == 0);
    env->reset_counts();
    // A removal is made durable by a sync of its directory.
    REQUIRE_FALSE(apply_changes(tree, {{"k:0", std::nullopt}}));
    CHECK(env->data_syncs == 0);
    CHECK(env->dir_syncs == 1);
    env->reset_counts();
    // Removing what is not there changes nothing, syncs nothing.
    REQUIRE_FALSE(apply_changes(tree, {{"k:0", std::nullopt},
                               {"none:such", std::nullopt}}));
    CHECK(env->dir_syncs + env->data_syncs + env->fs_syncs == 0);
  }
  SECTION("batched") {
    REQUIRE_FALSE(put_all(tree, batch(file_tree::batch_threshold + 1, 1)));
    CHECK(env->data_syncs == 0);
    CHECK(env->dir_syncs == 0);
    CHECK(env->fs_syncs == 2);
    env->reset_counts();
    // Batched removals and replacements.
    std::vector<std::pair<std::string, std::optional<entry>>> changes;
    for (size_t i = 0; i <= file_tree::batch_threshold; ++i)
      changes.emplace_back("k:" + std::to_string(i),
                           i % 2 == 0 ? std::optional<entry>{}
                                      : std::optional<entry>{value("r2", 2)});
    changes.emplace_back("never:existed", std::nullopt);
    REQUIRE_FALSE(apply_changes(tree, changes));
    CHECK(env->fs_syncs == 2);
    for (size_t i = 0; i <= file_tree::batch_threshold; ++i) {
      auto got = tree.read("k:" + std::to_string(i));
      if (i % 2 == 0) {
        REQUIRE_FALSE(got);
        CHECK(code_of(got.error()) == state_errc::not_found);
      } else {
        REQUIRE(got);
        CHECK(got->value == "r2");
      }
    }
  }
  // Either way: every file in place, no temp file left.
  for (auto& f : files_under(d.dir.path))
    CHECK(f.find("~tmp") == std::string::npos);
}

TEST_CASE("a failing disk leaves every key old or new, never torn, no temp "
          "file, and the next apply completes") {
  auto env = std::make_shared<counting_env>();
  tree_dir d{env};
  auto tree = d.tree();
  auto round = [](size_t n, int r) {
    std::map<std::string, entry> kv;
    for (size_t i = 0; i < n; ++i)
      kv.emplace("k:" + std::to_string(100 + i),
                 value("round " + std::to_string(r) + std::string(50, 'x'),
                       static_cast<version_t>(r)));
    return kv;
  };
  size_t n = 0;
  SECTION("one by one: the second write fails") {
    n = 3;
    REQUIRE_FALSE(put_all(tree, round(n, 1)));
    env->writes_before_failure = 1;
  }
  SECTION("one by one: fdatasync fails") {
    n = 3;
    REQUIRE_FALSE(put_all(tree, round(n, 1)));
    env->fail_syncs = true;
  }
  SECTION("batched: a write in the middle fails") {
    n = file_tree::batch_threshold + 8;
    REQUIRE_FALSE(put_all(tree, round(n, 1)));
    env->writes_before_failure = 20;
  }
  SECTION("batched: the first barrier fails") {
    n = file_tree::batch_threshold + 8;
    REQUIRE_FALSE(put_all(tree, round(n, 1)));
    env->fail_syncs = true;
  }
  auto err = put_all(tree, round(n, 2));
  REQUIRE(err);
  CHECK(code_of(err) == (env->fail_syncs ? state_errc::io_error
                                         : state_errc::insufficient_storage));
  // The failed apply gave back what it took: no temp file is left.
  for (auto& f : files_under(d.dir.path))
    CHECK(f.find("~tmp") == std::string::npos);
  size_t old_ones = 0;
  size_t new_ones = 0;
  for (auto& [key, e] : round(n, 1)) {
    auto got = tree.read(key);
    REQUIRE(got); // never corrupt, never missing
    if (got->version == 1) {
      CHECK(got->value == e.value);
      ++old_ones;
    } else {
      CHECK(got->version == 2);
      CHECK(got->value == round(n, 2).at(key).value);
      ++new_ones;
    }
  }
  CHECK(old_ones + new_ones == n);
  if (n > file_tree::batch_threshold) {
    // Batched: no rename before the first barrier, so nothing is new.
    CHECK(new_ones == 0);
  } else if (env->fail_syncs) {
    CHECK(new_ones == 0);
  } else {
    // The write before the failure was renamed into place.
    CHECK(new_ones == 1);
  }
  // The disk recovers: the retry completes.
  env->writes_before_failure = -1;
  env->fail_syncs = false;
  auto all = scan_all(tree);
  REQUIRE(all);
  CHECK(all->size() == n);
  for (auto& f : files_under(d.dir.path))
    CHECK(f.find("~tmp") == std::string::npos);
  REQUIRE_FALSE(put_all(tree, round(n, 2)));
  for (auto& [key, e] : round(n, 2)) {
    auto got = tree.read(key);
    REQUIRE(got);
    CHECK(same(*got, e));
  }
}

namespace {

/// Turns `cancel` on once `after` writes went through (a stop arriving
/// while a fold runs).
class cancelling_env : public failing_env {
public:
  std::atomic<bool> cancel{false};
  std::atomic<int> after{0};

  int write_at(int fd, const void* data, size_t n, off_t off) override {
    if (--after == 0)
      cancel = true;
    return failing_env::write_at(fd, data, n, off);
  }
};

} // namespace

TEST_CASE("a cancelled apply stops before its next file: every key old or "
          "new, the rest for the next apply, its temp files for the next "
          "scan") {
  auto env = std::make_shared<cancelling_env>();
  tree_dir d{env};
  auto tree = d.tree();
  auto n = GENERATE(as<size_t>{}, size_t{3}, file_tree::batch_threshold + 8);
  auto round = [n](int r) {
    std::map<std::string, entry> kv;
    for (size_t i = 0; i < n; ++i)
      kv.emplace("k:" + std::to_string(100 + i),
                 value("round " + std::to_string(r), static_cast<version_t>(r)));
    return kv;
  };
  REQUIRE_FALSE(put_all(tree, round(1)));
  env->after = 2; // the second file's write turns it on
  std::vector<tree_change> changes;
  auto second = round(2);
  for (auto& [key, e] : second)
    changes.push_back({&key, &e});
  auto err = tree.apply(std::move(changes), &env->cancel);
  REQUIRE(err);
  CHECK(code_of(err) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(err), Catch::Contains("cancelled"));
  size_t renamed = 0;
  for (auto& [key, e] : round(1)) {
    auto got = tree.read(key);
    REQUIRE(got);
    renamed += got->version == 2 ? 1 : 0;
  }
  // One by one, the two files written before it stopped are in place;
  // batched, nothing is renamed before the barrier it never reached.
  CHECK(renamed == (n > file_tree::batch_threshold ? 0 : 2));
  // The next start's scan removes what it left, the next apply completes.
  auto all = scan_all(tree);
  REQUIRE(all);
  for (auto& f : files_under(d.dir.path))
    CHECK(f.find("~tmp") == std::string::npos);
  env->after = -1;
  REQUIRE_FALSE(put_all(tree, round(2)));
  for (auto& [key, e] : round(2))
    CHECK(tree.read(key)->value == "round 2");
}

namespace {

/// syncfs as Linux (5.8+) reports writeback errors: once per open file
/// description, to each descriptor opened before the error. A value file
/// written while `fail_writeback` is set is "lost by the disk" after the
/// write returned; each syncfs is preceded by another shard's syncfs on the
/// tree's shared root descriptor, which takes the error first.
class errseq_env : public file_env {
public:
  int shared_root = -1;
  bool fail_writeback = false;

  bool sync_fs_reports_errors() override { return true; } // emulated below

  int open_at(int dir, const std::string& name, int flags,
              mode_t mode) override {
    int fd = file_env::open_at(dir, name, flags, mode);
    if (fd >= 0)
      sampled_[fd] = errors_;
    return fd;
  }
  int close(int fd) override {
    sampled_.erase(fd);
    return file_env::close(fd);
  }
  int write_at(int fd, const void* data, size_t n, off_t offset) override {
    if (fail_writeback)
      ++errors_;
    return file_env::write_at(fd, data, n, offset);
  }
  int sync_fs(int fd) override {
    if (shared_root >= 0)
      sampled_[shared_root] = errors_; // another shard's syncfs saw it
    auto& seen = sampled_[fd];
    if (seen < errors_) {
      seen = errors_;
      return -EIO;
    }
    return file_env::sync_fs(fd);
  }

private:
  std::map<int, uint64_t> sampled_;
  uint64_t errors_ = 0;
};

} // namespace

TEST_CASE("a batched fold learns of a writeback error that another shard's "
          "syncfs reached first") {
  auto env = std::make_shared<errseq_env>();
  tree_dir t{env};
  env->shared_root = t.root.get();
  std::vector<std::pair<std::string, std::optional<entry>>> kv;
  for (size_t i = 0; i <= file_tree::batch_threshold; ++i)
    kv.emplace_back("order:x:" + std::to_string(i),
                    value("v" + std::to_string(i), i + 1));
  env->fail_writeback = true;
  auto err = apply_changes(t.tree(), kv);
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("cannot sync filesystem"));
  // Nothing renamed into place: the keys keep their old (absent) files and
  // the log that holds them stays.
  CHECK_FALSE(fs::exists(t.sub("order/x/0.val")));
  env->fail_writeback = false;
  REQUIRE_FALSE(apply_changes(t.tree(), kv));
  CHECK(fs::exists(t.sub("order/x/0.val")));
}

namespace {

/// Runs a hook before chosen calls: what another shard's fold, or a hand
/// tidying the tree, does between two steps of an apply.
class hook_env : public failing_env {
public:
  /// Before each syncfs (the batched apply's barriers), with its number
  /// (1, 2, ...).
  std::function<void(int)> before_sync_fs;
  /// Before each file created (O_CREAT), with its name.
  std::function<void(const std::string&)> before_create;
  /// Before each mkdir, with the name.
  std::function<void(const std::string&)> before_mkdir;

  int sync_fs(int fd) override {
    if (before_sync_fs)
      before_sync_fs(++fs_syncs_);
    return failing_env::sync_fs(fd);
  }
  int open_at(int dir, const std::string& name, int flags,
              mode_t mode) override {
    if ((flags & O_CREAT) && before_create)
      before_create(name);
    return failing_env::open_at(dir, name, flags, mode);
  }
  int mkdir_at(int dir, const std::string& name) override {
    if (before_mkdir)
      before_mkdir(name);
    return failing_env::mkdir_at(dir, name);
  }

private:
  int fs_syncs_ = 0;
};

} // namespace

// Pass 2 of a batched apply opens each directory without creating it, and
// skipped a missing one for a put as for a removal: the temp file never
// renamed into place, apply() succeeded, and the fold would have retired
// the log of a value that was nowhere else (found by review).
TEST_CASE("a batched apply whose directory vanishes between its passes "
          "fails for a put, and skips only removals") {
  auto env = std::make_shared<hook_env>();
  tree_dir d{env};
  auto tree = d.tree();
  std::map<std::string, entry> old;
  for (size_t i = 0; i <= file_tree::batch_threshold; ++i)
    old.emplace("old:y:" + std::to_string(i), value("old", 1));
  REQUIRE_FALSE(put_all(tree, old));
  std::vector<std::pair<std::string, std::optional<entry>>> changes;
  for (auto& [key, e] : old)
    changes.emplace_back(key, std::nullopt);
  SECTION("removals only: nothing to remove, done") {
    env->before_sync_fs = [&](int n) {
      if (n == 1)
        fs::remove_all(d.sub("old/y"));
    };
    CHECK_FALSE(apply_changes(tree, changes));
  }
  SECTION("a put: the apply fails, naming the file") {
    changes.emplace_back("order:x:1", value("new", 2));
    env->before_sync_fs = [&](int n) {
      if (n == 1) {
        REQUIRE(fs::exists(d.sub("order/x/1.val~tmp")));
        fs::remove_all(d.sub("order/x"));
      }
    };
    auto err = apply_changes(tree, changes);
    REQUIRE(err);
    CHECK(code_of(err) == state_errc::io_error);
    CHECK_THAT(message_of(err),
               Catch::Contains(d.sub("order/x/1.val"))
                 && Catch::Contains("vanished"));
    // What failed is tried again by the next fold, and completes.
    env->before_sync_fs = nullptr;
    REQUIRE_FALSE(apply_changes(tree, changes));
    CHECK(read_value(tree, "order:x:1") == "new");
  }
}

namespace {

/// Every directory under `root`, relative to it.
std::set<std::string> dirs_under(const std::string& root) {
  std::set<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (!e.is_symlink() && e.is_directory())
      out.insert(fs::relative(e.path(), root).string());
  return out;
}

} // namespace

// Every ':' segment of a key is a directory, and nothing removed them: 300
// keys session:uN:data written and deleted left 301 directories and no
// file (found by review).
TEST_CASE("an apply removes the directories its removals emptied, up to "
          "the root, and keeps those that still hold a key") {
  auto env = std::make_shared<counting_env>();
  tree_dir d{env};
  auto tree = d.tree();
  auto n = GENERATE(as<size_t>{}, size_t{3}, size_t{300});
  INFO(n << " keys: " << (n > file_tree::batch_threshold ? "batched"
                                                          : "one by one"));
  std::map<std::string, entry> kv;
  for (size_t i = 0; i < n; ++i)
    kv.emplace("session:u" + std::to_string(i) + ":data", value("v", 1));
  kv.emplace("session:kept:data", value("kept", 1));
  kv.emplace("deep:a:b:c:d", value("deep", 1));
  REQUIRE_FALSE(put_all(tree, kv));
  REQUIRE(dirs_under(d.dir.path).size() == n + 1 + 1 + 4);
  std::vector<std::pair<std::string, std::optional<entry>>> removals;
  for (size_t i = 0; i < n; ++i)
    removals.emplace_back("session:u" + std::to_string(i) + ":data",
                          std::nullopt);
  removals.emplace_back("deep:a:b:c:d", std::nullopt);
  env->reset_counts();
  REQUIRE_FALSE(apply_changes(tree, removals));
  CHECK(dirs_under(d.dir.path) == std::set<std::string>{"session",
                                                        "session/kept"});
  CHECK(read_value(tree, "session:kept:data") == "kept");
  if (n <= file_tree::batch_threshold) {
    // Each parent that lost a directory is synced: session, deep/a/b,
    // deep/a, deep and the root (deep/a/b/c and each session/uN lost
    // their files first).
    CHECK(env->dir_syncs == n + 1 + 5);
  } else {
    CHECK(env->fs_syncs == 2); // the second barrier covers them
  }
  // Removing them again finds nothing to remove, and fails on nothing.
  REQUIRE_FALSE(apply_changes(tree, removals));
}

// A fold removes the directories it emptied while another shard's fold
// may be about to write into them: a mkdir or a create in a directory
// removed since the walk opened it fails with ENOENT, and the apply must
// make what is missing again, not fail (the fold's values would wait for
// the next fold) nor lose the value.
TEST_CASE("an apply makes a directory again when another fold removes it "
          "between the walk opening it and the write") {
  auto env = std::make_shared<hook_env>();
  tree_dir d{env};
  auto tree = d.tree();
  auto n = GENERATE(as<size_t>{}, size_t{1}, file_tree::batch_threshold + 1);
  INFO(n << " keys");
  std::map<std::string, entry> kv;
  for (size_t i = 0; i < n; ++i)
    kv.emplace("a:b:" + std::to_string(i), value("v", 1));
  bool fired = false;
  SECTION("the directory of the file, before its create") {
    fs::create_directories(d.sub("a/b"));
    env->before_create = [&](const std::string& name) {
      if (fired || name.find("~tmp") == std::string::npos)
        return;
      fired = true;
      fs::remove(d.sub("a/b"));
      fs::remove(d.sub("a"));
    };
  }
  SECTION("the parent of a directory, before its mkdir") {
    fs::create_directories(d.sub("a"));
    env->before_mkdir = [&](const std::string& name) {
      if (fired || name != "b")
        return;
      fired = true;
      fs::remove(d.sub("a"));
    };
  }
  REQUIRE_FALSE(put_all(tree, kv));
  CHECK(fired);
  for (auto& [key, e] : kv)
    CHECK(read_value(tree, key) == "v");
}

// A fold one by one synced only the directories it changed: one it entered
// and did not make, made a moment before by another shard's fold that had
// not synced its parent yet, could be lost with the value file written
// into it after this fold had retired its log (found by review).
TEST_CASE("an apply one by one makes durable every directory on the way "
          "to what it wrote, also those it did not make") {
  temp_dir dir;
  auto env = std::make_shared<crash_env>(dir.path);
  int fd = env->open_at(AT_FDCWD, dir.path, O_RDONLY | O_DIRECTORY, 0);
  REQUIRE(fd >= 0);
  unique_fd root{env.get(), fd};
  // Made by another fold, whose sync of the root is still to come.
  REQUIRE(env->mkdir_at(root.get(), "a") == 0);
  fd = env->open_at(root.get(), "a", O_RDONLY | O_DIRECTORY, 0);
  REQUIRE(fd >= 0);
  unique_fd a{env.get(), fd};
  REQUIRE(env->mkdir_at(a.get(), "b") == 0);
  {
    file_tree tree{env, root.get(), dir.path};
    REQUIRE_FALSE(put_all(tree, {{"a:b:k", value("durable", 1)}}));
  }
  a.reset();
  root.reset();
  env->reboot_synced_only(); // the other fold never got to its syncs
  fd = env->open_at(AT_FDCWD, dir.path, O_RDONLY | O_DIRECTORY, 0);
  REQUIRE(fd >= 0);
  root = unique_fd{env.get(), fd};
  file_tree tree{env, root.get(), dir.path};
  CHECK(read_value(tree, "a:b:k") == "durable");
}
