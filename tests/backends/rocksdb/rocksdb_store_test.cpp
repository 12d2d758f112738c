// The rocksdb backend beyond the conformance suite: what a restart keeps,
// keys moving when the shard count changes, the expiry index, the totals an
// open reads instead of counting, and refusals (a base_path in use, a
// database another program wrote).

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <system_error>
#include <random>
#include <set>
#include <thread>

#include <sys/mount.h>

#include <rocksdb/db.h>
#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include "backends/codec/coded_store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/rocksdb/record.hpp"
#include "backends/rocksdb/store.hpp"
#include "messages/errors.hpp"
#include "tests/support/captured_log.hpp"
#include "tests/support/file_test_support.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;
using namespace solver_state::testing;

namespace {

state_config rocksdb_config_for(const std::string& base, size_t shards,
                                size_t max_items = 0) {
  state_config cfg;
  cfg.type = "rocksdb";
  cfg.shards = shards;
  cfg.max_items = max_items;
  cfg.rocksdb.base_path = base;
  cfg.rocksdb.fsync = fsync_policy::always;
  cfg.rocksdb.cache_bytes = 8u << 20;
  return cfg;
}

caf::expected<opened_store> open_rocksdb(const state_config& cfg) {
  auto stores = compiled_plugins().find("rocksdb")->create_stores(cfg);
  if (!stores)
    return std::move(stores.error());
  return opened_store{std::move(*stores)};
}

opened_store must_open(const std::string& base, size_t shards,
                       size_t max_items = 0) {
  auto store = open_rocksdb(rocksdb_config_for(base, shards, max_items));
  INFO((store ? std::string{} : message_of(store.error())));
  REQUIRE(store);
  return std::move(*store);
}

void close_all(opened_store& store) {
  for (auto& s : store.stores)
    REQUIRE_FALSE(s->close());
  store.stores.clear();
}

uint64_t total_keys(const opened_store& store) {
  uint64_t n = 0;
  for (auto& s : store.stores)
    n += s->stats().keys;
  return n;
}

uint64_t total_bytes(const opened_store& store) {
  uint64_t n = 0;
  for (auto& s : store.stores)
    n += s->stats().bytes;
  return n;
}

std::string key_of(int i) {
  return "order:t:" + std::to_string(i);
}

std::string value_of(int i) {
  return "value-" + std::to_string(i * 7919);
}

/// Writes keys 0..n-1 (every third with a TTL ending at 10'000) and returns
/// their versions.
std::vector<version_t> write_keys(opened_store& store, int n) {
  std::vector<version_t> versions;
  for (int i = 0; i < n; ++i) {
    auto v = store.put(key_of(i), value_of(i), 1000, i % 3 == 0 ? 10'000 : 0);
    REQUIRE(v);
    versions.push_back(*v);
  }
  return versions;
}

/// Every key 0..n-1 is found in the shard that owns it under the current
/// shard count, with its value and version, and each shard lists exactly
/// the keys it owns.
void check_keys(opened_store& store, int n,
                const std::vector<version_t>& versions) {
  for (int i = 0; i < n; ++i) {
    auto e = store.get(key_of(i));
    INFO(key_of(i));
    REQUIRE(e);
    CHECK(e->value == value_of(i));
    CHECK(e->version == versions[static_cast<size_t>(i)]);
    CHECK(e->expires_at_ms == (i % 3 == 0 ? 10'000 : 0));
  }
  std::set<std::string> listed;
  for (size_t s = 0; s < store.stores.size(); ++s) {
    auto page = store.stores[s]->list(list_request{"", "", 0}, 1000);
    REQUIRE(page);
    for (auto& key : page->keys) {
      CHECK(shard_index(key, store.stores.size()) == s);
      CHECK(listed.insert(key).second);
    }
  }
  CHECK(listed.size() == static_cast<size_t>(n));
  CHECK(total_keys(store) == static_cast<uint64_t>(n));
}

} // namespace

TEST_CASE("rocksdb: a restart keeps every key, version, expiry and total") {
  temp_dir dir;
  auto base = dir.sub("db");
  std::vector<version_t> versions;
  uint64_t bytes = 0;
  {
    auto store = must_open(base, 2);
    versions = write_keys(store, 200);
    // A deleted key stays deleted; an overwritten one keeps its last value.
    REQUIRE(store.put("order:t:gone", "x"));
    REQUIRE(*store.remove("order:t:gone"));
    bytes = total_bytes(store);
    close_all(store);
  }
  auto store = must_open(base, 2);
  check_keys(store, 200, versions);
  CHECK(total_bytes(store) == bytes);
  CHECK(code_of(store.get("order:t:gone").error()) == state_errc::not_found);
  // New versions stay above every version issued before the restart.
  auto v = store.put(key_of(1), "newer");
  REQUIRE(v);
  CHECK(*v > *std::max_element(versions.begin(), versions.end()));
}

TEST_CASE("rocksdb: changing the shard count moves every key to its owner") {
  temp_dir dir;
  auto base = dir.sub("db");
  std::vector<version_t> versions;
  {
    auto store = must_open(base, 4);
    versions = write_keys(store, 300);
    close_all(store);
  }
  for (size_t shards : {2, 3, 1, 5}) {
    INFO("shards " << shards);
    auto store = must_open(base, shards);
    check_keys(store, 300, versions);
    close_all(store);
  }
  // The expiry index moved with the keys: a sweep after the TTL drops
  // exactly the keys that had one, and names them.
  auto store = must_open(base, 5);
  std::set<std::string> expired;
  size_t dropped = 0;
  for (auto& s : store.stores) {
    std::vector<std::string> names;
    dropped += s->sweep(10'001, &names);
    expired.insert(names.begin(), names.end());
  }
  CHECK(dropped == 100);
  CHECK(expired.size() == 100);
  for (int i = 0; i < 300; i += 3)
    CHECK(expired.count(key_of(i)) == 1);
  CHECK(total_keys(store) == 200);
}

TEST_CASE("rocksdb: the sweep follows the expiry a key has now") {
  temp_dir dir;
  auto store = must_open(dir.sub("db"), 1);
  auto& s = *store.stores[0];
  REQUIRE(store.put("a", "1", 1000, 5'000));
  REQUIRE(store.put("a", "2", 1000, 0));      // TTL removed
  REQUIRE(store.put("b", "1", 1000, 5'000));
  REQUIRE(store.put("b", "2", 1000, 20'000)); // TTL extended
  REQUIRE(store.put("c", "1", 1000, 5'000));
  std::vector<std::string> names;
  CHECK(s.sweep(10'000, &names) == 1);
  CHECK(names == std::vector<std::string>{"c"});
  CHECK(store.get("a", 30'000)->value == "2");
  CHECK(store.get("b", 10'000)->value == "2");
  // Expired but not yet swept: invisible to get and list.
  CHECK(code_of(store.get("b", 20'000).error()) == state_errc::not_found);
  CHECK(s.list(list_request{"", "", 0}, 20'000)->keys
        == std::vector<std::string>{"a"});
  CHECK(s.sweep(20'000) == 1);
  CHECK(s.stats().keys == 1);
}

TEST_CASE("rocksdb: a sweep drops at most max_sweep_keys at a time") {
  temp_dir dir;
  auto store = must_open(dir.sub("db"), 1);
  auto& s = *store.stores[0];
  auto n = rocksdb_store::max_sweep_keys + 5;
  for (size_t i = 0; i < n; ++i)
    REQUIRE(s.set(set_request{"k:" + std::to_string(i), "v", 0,
                              condition::always()},
                  50, 10));
  REQUIRE_FALSE(s.commit());
  CHECK(s.sweep(100) == rocksdb_store::max_sweep_keys);
  CHECK(s.sweep(100) == 5);
  CHECK(s.sweep(100) == 0);
  CHECK(s.stats().keys == 0);
}

TEST_CASE("rocksdb: max_items counts the keys an open finds") {
  temp_dir dir;
  auto base = dir.sub("db");
  {
    auto store = must_open(base, 2);
    write_keys(store, 10);
    close_all(store);
  }
  auto store = must_open(base, 2, 12);
  REQUIRE(store.put("extra:1", "x"));
  REQUIRE(store.put("extra:2", "x"));
  auto refused = store.put("extra:3", "x");
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::capacity_exceeded);
  // Overwriting an existing key needs no room; deleting one makes room.
  CHECK(store.put(key_of(1), "again"));
  REQUIRE(*store.remove(key_of(2)));
  CHECK(store.put("extra:3", "x"));
}

// A full store refused new keys while keys past their expiry, not swept
// yet (sweep_interval), still held the budget (found by review).
TEST_CASE("rocksdb: a new key in a full store reclaims a key past its expiry "
          "that the sweep has not dropped yet") {
  using keys = std::vector<std::string>;
  temp_dir dir;
  auto store = must_open(dir.sub("db"), 1, 3);
  auto& s = *store.stores[0];
  REQUIRE(store.put("keep", "v", 1000));
  REQUIRE(store.put("t1", "v", 1000, 2000));
  REQUIRE(store.put("t2", "v", 1000, 2000));
  REQUIRE(s.list(list_request{"t", "", 0}, 2500)->keys.empty());
  auto set_op = [](const std::string& key) {
    pending_op op;
    op.kind = pending_op::set;
    op.write = set_request{key, "v", 0, condition::always()};
    return op;
  };
  SECTION("a write") {
    REQUIRE(store.put("fresh", "v", 2500));
    // It expired: the write that reclaimed it owes its expire event.
    CHECK(s.take_expired_by_writes() == keys{"t1"});
    REQUIRE(store.put("fresh2", "v", 2500));
    CHECK(s.take_expired_by_writes() == keys{"t2"});
    auto full = store.put("fresh3", "v", 2500);
    REQUIRE_FALSE(full);
    CHECK(code_of(full.error()) == state_errc::capacity_exceeded);
    CHECK(store.get("keep", 2500));
  }
  SECTION("ops of one batch") {
    std::vector<pending_op> ops{set_op("n1"), set_op("n2"), set_op("n3")};
    ops.emplace_back();
    ops.back().kind = pending_op::get;
    ops.back().key = "t1";
    s.apply(ops, 2500);
    REQUIRE_FALSE(s.commit());
    CHECK(ops[0].written);
    CHECK(ops[1].written);
    REQUIRE_FALSE(ops[2].written);
    CHECK(code_of(ops[2].written.error()) == state_errc::capacity_exceeded);
    REQUIRE_FALSE(ops[3].got);
    CHECK(code_of(ops[3].got.error()) == state_errc::not_found);
    CHECK(s.take_expired_by_writes() == keys{"t1", "t2"});
  }
  SECTION("a transaction, when enough are past their expiry") {
    std::vector<pending_op> too_many{set_op("n1"), set_op("n2"),
                                     set_op("n3")};
    auto refused = s.transact(too_many, 2500);
    REQUIRE(refused);
    CHECK(code_of(refused) == state_errc::capacity_exceeded);
    CHECK(s.take_expired_by_writes().empty());
    CHECK(s.stats().keys == 3);
    std::vector<pending_op> ops{set_op("n1"), set_op("n2")};
    REQUIRE_FALSE(s.transact(ops, 2500));
    REQUIRE_FALSE(s.commit());
    CHECK(s.take_expired_by_writes() == keys{"t1", "t2"});
    CHECK(ops[0].written->created);
  }
  SECTION("a transaction that deletes a key reclaims only for the keys it "
          "adds net") {
    // Deleting "keep" frees one key for the three it creates: two more
    // are needed, and the two past their expiry give them.
    pending_op gone;
    gone.kind = pending_op::erase;
    gone.removal = delete_request{"keep", condition::always()};
    std::vector<pending_op> ops{set_op("n1"), set_op("n2"), set_op("n3"),
                                gone};
    auto err = s.transact(ops, 2500);
    INFO(message_of(err));
    REQUIRE_FALSE(err);
    REQUIRE_FALSE(s.commit());
    CHECK(s.take_expired_by_writes() == keys{"t1", "t2"});
    CHECK(ops[3].erased == true);
    CHECK_FALSE(store.get("keep", 2500));
  }
  CHECK(s.stats().keys == 3);
  CHECK(s.list(list_request{"", "", 0}, 2500)->keys.size() == 3);
  CHECK(s.sweep(2500) == 0); // nothing left past its expiry
  CHECK_FALSE(store.put("more", "v", 2500));
}

TEST_CASE("rocksdb: a base_path in use or written by another program is "
          "refused with the reason") {
  temp_dir dir;
  auto base = dir.sub("db");
  auto first = must_open(base, 1);
  auto second = open_rocksdb(rocksdb_config_for(base, 1));
  REQUIRE_FALSE(second);
  INFO(message_of(second.error()));
  CHECK(message_of(second.error()).find("in use by another process")
        != std::string::npos);
  CHECK(message_of(second.error()).find("state.rocksdb.base_path")
        != std::string::npos);
  close_all(first);
  // Closed, it opens again.
  auto third = open_rocksdb(rocksdb_config_for(base, 1));
  CHECK(third);
}

TEST_CASE("rocksdb: a directory of the file backend's store is refused, "
          "naming one of its files, and the file backend refuses a "
          "RocksDB database: a change of state.type starts no empty store") {
  temp_dir dir;
  auto base = dir.sub("db");
  auto rocksdb_cfg = rocksdb_config_for(base, 2);
  auto file_cfg = file_config_for(base, 2);
  auto* rocksdb_plugin = compiled_plugins().find("rocksdb");
  auto* file_plugin = compiled_plugins().find("file");
  SECTION("rocksdb over the file backend's store") {
    {
      auto store = open_store(file_cfg);
      REQUIRE(store);
      REQUIRE(store->put("order:1", "kept"));
      for (auto& s : store->stores)
        REQUIRE_FALSE(s->close());
    }
    auto opened = open_rocksdb(rocksdb_cfg);
    REQUIRE_FALSE(opened);
    auto message = message_of(opened.error());
    CHECK_THAT(message, Catch::Contains("state.rocksdb.base_path")
                          && Catch::Contains(base + "/~")
                          && Catch::Contains("file backend")
                          && Catch::Contains("docs/cli.md"));
    // --check-config says the same before anything opens.
    auto checked = rocksdb_plugin->check(rocksdb_cfg);
    REQUIRE(checked);
    CHECK_THAT(message_of(checked), Catch::Contains("file backend"));
    // No database was created: the file backend still serves its keys.
    CHECK_FALSE(std::filesystem::exists(base + "/CURRENT"));
    auto again = open_store(file_cfg);
    REQUIRE(again);
    auto e = again->get("order:1");
    REQUIRE(e);
    CHECK(e->value == "kept");
  }
  SECTION("the file backend over a RocksDB database") {
    {
      auto store = must_open(base, 2);
      REQUIRE(store.put("order:1", "kept"));
      close_all(store);
    }
    auto opened = open_store(file_cfg);
    REQUIRE_FALSE(opened);
    CHECK_THAT(message_of(opened.error()),
               Catch::Contains("state.file.base_path")
                 && Catch::Contains(base + "/CURRENT")
                 && Catch::Contains("RocksDB database")
                 && Catch::Contains("docs/cli.md"));
    auto checked = file_plugin->check(file_cfg);
    REQUIRE(checked);
    CHECK_THAT(message_of(checked), Catch::Contains("RocksDB database"));
    // Nothing of the file backend's was left there: RocksDB still opens it.
    CHECK_FALSE(std::filesystem::exists(base + "/~lock"));
    auto store = must_open(base, 2);
    auto e = store.get("order:1");
    REQUIRE(e);
    CHECK(e->value == "kept");
  }
  SECTION("a log alone is enough") {
    std::filesystem::create_directories(base);
    std::ofstream{base + "/~wal-0-0.log"} << "x";
    auto opened = open_rocksdb(rocksdb_cfg);
    REQUIRE_FALSE(opened);
    CHECK_THAT(message_of(opened.error()),
               Catch::Contains(base + "/~wal-0-0.log"));
  }
}

TEST_CASE("rocksdb: eviction lru is refused") {
  temp_dir dir;
  auto cfg = rocksdb_config_for(dir.sub("db"), 1);
  cfg.eviction = eviction_policy::lru;
  auto store = open_rocksdb(cfg);
  REQUIRE_FALSE(store);
  CHECK(message_of(store.error()).find("lru") != std::string::npos);
}

TEST_CASE("rocksdb: ops of one batch see each other's writes, written as "
          "one batch") {
  temp_dir dir;
  auto store = must_open(dir.sub("db"), 1);
  auto& s = *store.stores[0];
  auto op = [](pending_op::kind_t kind, const std::string& key) {
    pending_op out;
    out.kind = kind;
    out.key = key;
    out.write.key = key;
    out.removal.key = key;
    return out;
  };
  std::vector<pending_op> ops;
  ops.push_back(op(pending_op::set, "k"));
  ops.back().write.value = "1";
  ops.back().write.cond = condition::absent();
  ops.push_back(op(pending_op::get, "k"));
  ops.push_back(op(pending_op::set, "k"));
  ops.back().write.value = "2";
  ops.push_back(op(pending_op::set, "k")); // absent: fails, "k" exists
  ops.back().write.value = "3";
  ops.back().write.cond = condition::absent();
  ops.push_back(op(pending_op::get, "k"));
  ops.push_back(op(pending_op::erase, "k"));
  ops.push_back(op(pending_op::get, "k"));
  s.apply(ops, 1000);
  REQUIRE(ops[0].written);
  REQUIRE(ops[1].got);
  CHECK(ops[1].got->value == "1");
  CHECK(ops[1].got->version == ops[0].written->version);
  REQUIRE(ops[2].written);
  CHECK_FALSE(ops[2].written->created);
  REQUIRE_FALSE(ops[3].written);
  CHECK(code_of(ops[3].written.error()) == state_errc::version_mismatch);
  CHECK(ops[4].got->value == "2");
  CHECK(*ops[5].erased);
  CHECK(code_of(ops[6].got.error()) == state_errc::not_found);
  CHECK(s.stats().keys == 0);
  // Conditions see the batch too: after a set in the batch, an erase that
  // names the version from before it is refused.
  std::vector<pending_op> more;
  more.push_back(op(pending_op::set, "j"));
  more.back().write.value = "x";
  s.apply(more, 1000);
  REQUIRE(more[0].written);
  auto v = more[0].written->version;
  more.clear();
  more.push_back(op(pending_op::set, "j"));
  more.back().write.value = "y";
  more.back().write.cond = condition::matches(v);
  more.push_back(op(pending_op::erase, "j"));
  more.back().removal.cond = condition::matches(v);
  s.apply(more, 1000);
  REQUIRE(more[0].written);
  REQUIRE_FALSE(more[1].erased);
  CHECK(code_of(more[1].erased.error()) == state_errc::version_mismatch);
  CHECK(store.get("j", 1000)->value == "y");
}

namespace {

/// One shard with memtables of 1 MiB: logs switch (and memtables flush)
/// every sixteen writes of 64 KiB.
state_config small_memtables_config(const std::string& base) {
  auto cfg = rocksdb_config_for(base, 1);
  cfg.rocksdb.cache_bytes = 4u << 20;
  return cfg;
}

opened_store must_open(const state_config& cfg) {
  auto store = open_rocksdb(cfg);
  INFO((store ? std::string{} : message_of(store.error())));
  REQUIRE(store);
  return std::move(*store);
}

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted on the way
/// out; `mounted` is false where mounting needs a root this test lacks.
struct small_disk {
  temp_dir dir;
  bool mounted = false;

  explicit small_disk(size_t bytes) {
    auto options = "size=" + std::to_string(bytes);
    mounted = ::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, options.c_str())
              == 0;
  }
  ~small_disk() {
    if (mounted)
      ::umount2(dir.path.c_str(), MNT_DETACH);
  }
};

/// The highest write-ahead log number in `base` (RocksDB's NNNNNN.log).
uint64_t newest_log(const std::string& base) {
  uint64_t newest = 0;
  for (auto& f : std::filesystem::directory_iterator(base))
    if (f.path().extension() == ".log")
      newest = std::max<uint64_t>(newest, std::stoull(f.path().stem()));
  return newest;
}

/// Grows `file` until the disk refuses another byte.
void fill_disk(const std::string& file) {
  auto* f = std::fopen(file.c_str(), "wb");
  REQUIRE(f);
  std::setvbuf(f, nullptr, _IONBF, 0);
  std::string chunk(1u << 20, 'b');
  for (size_t size = chunk.size(); size >= 512; size /= 2)
    while (std::fwrite(chunk.data(), 1, size, f) == size) {
    }
  std::fclose(f);
}

} // namespace

TEST_CASE("rocksdb: a disk that fills just after the log was switched is "
          "written again once it has room") {
  // The log a write fails in is the one RocksDB keeps when every memtable
  // is empty at resume time (7.8 switches logs only to flush a memtable):
  // the next write went to that failed log writer, and a RocksDB built with
  // assertions aborted the service ("sync_without_flush_called_"); one
  // without them refuses every write until a restart.
  small_disk disk{48u << 20};
  if (!disk.mounted) {
    WARN("cannot mount a tmpfs here (needs root): skipped");
    return;
  }
  auto base = disk.dir.sub("data");
  auto cfg = small_memtables_config(base);
  auto store = must_open(cfg);
  std::mt19937_64 rng{5};
  std::string value(64u << 10, '\0');
  auto next_value = [&] {
    for (auto& c : value)
      c = static_cast<char>(rng());
    return value;
  };
  std::vector<std::string> acked;
  // Write until a write opens a new log, then take every byte left: the
  // next log's first write finds no room, with the memtable it goes to
  // empty.
  auto log = newest_log(base);
  int i = 0;
  for (; newest_log(base) == log; ++i) {
    REQUIRE(i < 2'000);
    auto key = "fill:" + std::to_string(i);
    REQUIRE(store.put(key, next_value()));
    acked.push_back(key);
  }
  fill_disk(disk.dir.sub("ballast"));
  bool refused = false;
  for (int k = 0; k < 200 && !refused; ++k, ++i) {
    auto key = "fill:" + std::to_string(i);
    auto v = store.put(key, next_value());
    if (v)
      acked.push_back(key);
    else
      refused = code_of(v.error()) == state_errc::insufficient_storage;
  }
  REQUIRE(refused);
  std::filesystem::remove(disk.dir.sub("ballast"));
  // Ready again (RocksDB resumed) within a few seconds, then writable.
  auto& shard = *store.stores.front();
  caf::error health = shard.health_check();
  for (int tries = 0; health && tries < 100; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    health = shard.health_check();
  }
  REQUIRE_FALSE(health);
  for (int k = 0; k < 20; ++k, ++i) {
    auto key = "after:" + std::to_string(i);
    auto v = store.put(key, next_value());
    INFO((v ? std::string{} : message_of(v.error())));
    REQUIRE(v);
    acked.push_back(key);
  }
  for (auto& key : acked)
    REQUIRE(store.get(key));
  close_all(store);
  auto reopened = must_open(cfg);
  for (auto& key : acked)
    REQUIRE(reopened.get(key));
  close_all(reopened);
}

TEST_CASE("rocksdb: the entry kept for resuming does not keep old logs") {
  // A memtable never flushed keeps every log since it began: the anchor's
  // kept up to max_total_wal_size (64 MiB here) of logs for the next start
  // to read, where the shards' own flushes free all but the last few MiB.
  temp_dir dir;
  auto base = dir.sub("data");
  auto store = must_open(small_memtables_config(base));
  std::mt19937_64 rng{6};
  std::string value(64u << 10, '\0');
  auto log_bytes = [&] {
    // RocksDB deletes obsolete logs in the background: one listed may be
    // gone when its size is read (it then counts nothing).
    uint64_t n = 0;
    for (auto& f : std::filesystem::directory_iterator(base))
      if (f.path().extension() == ".log") {
        std::error_code gone;
        auto size = std::filesystem::file_size(f.path(), gone);
        n += gone ? 0 : size;
      }
    return n;
  };
  uint64_t most = 0;
  for (int i = 0; i < 768; ++i) { // 48 MiB
    for (auto& c : value)
      c = static_cast<char>(rng());
    REQUIRE(store.put("k:" + std::to_string(i), value));
    if (i % 32 == 31)
      most = std::max(most, log_bytes());
  }
  CAPTURE(most);
  CHECK(most < (12u << 20));
  close_all(store);
}

TEST_CASE("rocksdb: a snapshot kept at a clean stop is taken once by the "
          "next start, and none survives a change of the shard count") {
  temp_dir dir;
  auto base = dir.sub("db");
  auto keep_all = [&](opened_store& store, const std::string& what) {
    for (auto& s : store.stores)
      REQUIRE_FALSE(s->close());
    for (size_t i = 0; i < store.stores.size(); ++i) {
      REQUIRE(store.stores[i]->keeps_snapshots());
      REQUIRE_FALSE(
        store.stores[i]->keep_snapshot(what + std::to_string(i)));
    }
    store.stores.clear();
  };
  {
    auto store = must_open(base, 2);
    write_keys(store, 10);
    keep_all(store, "kept by ");
  }
  CHECK(std::filesystem::exists(base + "/query-1.snapshot"));
  {
    auto store = must_open(base, 2);
    auto kept = store.stores[1]->take_snapshot();
    REQUIRE(kept);
    REQUIRE(*kept);
    CHECK(**kept == "kept by 1");
    CHECK_FALSE(std::filesystem::exists(base + "/query-1.snapshot"));
    auto again = store.stores[1]->take_snapshot();
    REQUIRE(again);
    CHECK_FALSE(*again);
    // The open took every shard's off the disk; each is handed over once.
    CHECK_FALSE(std::filesystem::exists(base + "/query-0.snapshot"));
    auto zero = store.stores[0]->take_snapshot();
    REQUIRE(zero);
    REQUIRE(*zero);
    CHECK(**zero == "kept by 0");
    keep_all(store, "second ");
  }
  {
    // 2 -> 4 shards: keys move, so no snapshot of the old layout is left.
    auto store = must_open(base, 4);
    for (auto& s : store.stores) {
      auto kept = s->take_snapshot();
      REQUIRE(kept);
      CHECK_FALSE(*kept);
    }
    keep_all(store, "of four ");
  }
  {
    // And back to 2: shards 2 and 3's snapshots must not wait for a later
    // run of 4 shards over other data.
    auto store = must_open(base, 2);
    for (int i = 0; i < 4; ++i)
      CHECK_FALSE(std::filesystem::exists(
        base + "/query-" + std::to_string(i) + ".snapshot"));
    keep_all(store, "of two ");
  }
  {
    // An open that never asks for them (a tool writing the store) still
    // takes them off the disk: its writes can never meet them later.
    auto store = must_open(base, 2);
    write_keys(store, 20);
    close_all(store);
  }
  auto store = must_open(base, 2);
  for (auto& s : store.stores) {
    auto kept = s->take_snapshot();
    REQUIRE(kept);
    CHECK_FALSE(*kept);
  }
}

TEST_CASE("rocksdb: stats report the engine's compaction state: memtable "
          "bytes, then sorted files in level 0 once flushed") {
  temp_dir dir;
  auto store = must_open(small_memtables_config(dir.sub("db"))); // 1 MiB
  auto& shard = *store.stores[0];
  auto opened = shard.stats();
  CHECK(opened.compaction.active);
  CHECK(opened.compaction.sst_bytes == 0);
  CHECK(opened.compaction.level0_files == 0);
  CHECK(opened.compaction.write_stalls == 0);
  std::mt19937_64 rng{17};
  std::string value(1024, '\0');
  auto write = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      for (auto& c : value)
        c = static_cast<char>(rng()); // incompressible: sizes stay sizes
      REQUIRE(store.put("k:" + std::to_string(i), value));
    }
  };
  write(0, 400); // 400 KiB: under one memtable, nothing flushed
  auto held = shard.stats();
  CHECK(held.compaction.memtable_bytes >= (400u << 10));
  CHECK(held.compaction.sst_bytes == 0);
  write(400, 2000); // 2 MiB: a memtable or two flushed, under L0's trigger
  auto flushed = shard.stats();
  for (int i = 0; i < 1000 && flushed.compaction.sst_bytes == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    flushed = shard.stats();
  }
  CHECK(flushed.compaction.sst_bytes >= (512u << 10));
  CHECK(flushed.compaction.level0_files >= 1);
  CHECK(flushed.compaction.level0_files < 4); // RocksDB compacts level 0 at 4 files
  close_all(store);
}

namespace {

/// Opens the closed database at `path` with RocksDB alone (every column
/// family), runs `change` on it, and closes it: what damage, another
/// program or an interrupted open leaves.
void change_raw(const std::string& path,
                const std::function<void(rocksdb::DB&,
                                         const std::vector<std::string>&,
                                         std::vector<rocksdb::ColumnFamilyHandle*>&)>&
                  change) {
  rocksdb::Options opts;
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(opts, path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> wanted;
  for (auto& name : names)
    wanted.emplace_back(name, rocksdb::ColumnFamilyOptions{});
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(opts, path, wanted, &handles, &db).ok());
  change(*db, names, handles);
  for (auto* h : handles)
    if (h)
      CHECK(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

/// Writes `records` (key -> raw bytes) straight into shard 0's column
/// family of the closed database at `path`, as damage or another program
/// would.
void write_raw(const std::string& path,
               const std::vector<std::pair<std::string, std::string>>& records) {
  change_raw(path, [&](rocksdb::DB& db, const std::vector<std::string>& names,
                       std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
    auto shard0 = std::find(names.begin(), names.end(), "shard-0");
    REQUIRE(shard0 != names.end());
    auto* cf = handles[static_cast<size_t>(shard0 - names.begin())];
    for (auto& [key, bytes] : records)
      CHECK(db.Put(rocksdb::WriteOptions{}, cf, key, bytes).ok());
  });
}

} // namespace

TEST_CASE("rocksdb: a damaged record is listed, read as a value error, "
          "replaced by a write, and the sweep goes past it") {
  temp_dir dir;
  auto path = dir.sub("db");
  {
    auto store = must_open(path, 1);
    REQUIRE(store.put("a", "1"));
    REQUIRE(store.put("b", "1"));
    REQUIRE(store.put("d", "1", 1000, 5'000)); // expires at 5 s
    close_all(store);
  }
  // b's record is garbage, and the expiry index names it first.
  write_raw(path, {{"b", "\x7fnot a record"}, {rocks::expiry_key(2, "b"), ""}});
  auto store = must_open(path, 1);
  auto& s = *store.stores[0];
  auto b = store.get("b");
  REQUIRE_FALSE(b);
  CHECK(is_value_error(b.error()));
  CHECK(message_of(b.error()).find("'b' is damaged") != std::string::npos);
  // Listed, not a failed page: its key is there.
  auto page = s.list(list_request{"", "", 0}, 1000);
  REQUIRE(page);
  CHECK(page->keys == std::vector<std::string>{"a", "b", "d"});
  // The sweep goes past it to the key that did expire.
  std::vector<std::string> names;
  CHECK(s.sweep(10'000, &names) == 1);
  CHECK(names == std::vector<std::string>{"d"});
  // A write replaces it; a conditional one cannot name its version.
  CHECK_FALSE(s.set(set_request{"b", "x", 0, condition::matches(1)}, 0,
                    1000));
  // A transaction judges the condition as that write does, by the record's
  // head, reading no value: 412, not the read's value error.
  std::vector<pending_op> txn(1);
  txn[0].kind = pending_op::set;
  txn[0].write = set_request{"b", "x", 0, condition::matches(1)};
  auto refused = s.transact(txn, 1000);
  REQUIRE(refused);
  CHECK(code_of(refused) == state_errc::version_mismatch);
  CHECK(message_of(refused).find("'b'") != std::string::npos);
  REQUIRE(store.put("b", "2"));
  CHECK(store.get("b")->value == "2");
  CHECK(s.stats().keys == 2);
}

namespace {

/// Adds an empty column family `name` to the closed database at `path`: what
/// an open that grows the shard count leaves when it stops (a kill, a full
/// disk) after creating the new shards' families and before moving a key.
void create_family(const std::string& path, const std::string& name) {
  change_raw(path, [&](rocksdb::DB& db, const std::vector<std::string>&,
                       std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
    rocksdb::ColumnFamilyHandle* added = nullptr;
    CHECK(db.CreateColumnFamily(rocksdb::ColumnFamilyOptions{}, name, &added)
            .ok());
    handles.push_back(added);
  });
}

} // namespace

TEST_CASE("rocksdb: an open that stopped before moving the keys to a larger "
          "shard count moves them at the next open") {
  for (size_t before : {1, 2}) {
    INFO("from " << before << " shards");
    temp_dir dir;
    auto base = dir.sub("db");
    std::vector<version_t> versions;
    {
      auto store = must_open(base, before);
      versions = write_keys(store, 120);
      close_all(store);
    }
    // The families of before + 1 shards, the keys still placed by `before`.
    create_family(base, "shard-" + std::to_string(before));
    auto store = must_open(base, before + 1);
    check_keys(store, 120, versions);
    close_all(store);
  }
}

TEST_CASE("rocksdb: a damaged record moves to its shard as it is when the "
          "shard count changes") {
  temp_dir dir;
  auto path = dir.sub("db");
  {
    auto store = must_open(path, 1);
    for (int i = 0; i < 20; ++i)
      REQUIRE(store.put(key_of(i), value_of(i)));
    close_all(store);
  }
  // A key that shard 1 of 2 owns, its record garbage.
  std::string damaged;
  for (int i = 100; damaged.empty(); ++i)
    if (shard_index(key_of(i), 2) == 1)
      damaged = key_of(i);
  write_raw(path, {{damaged, "\x7fnot a record"}});
  auto store = must_open(path, 2);
  auto got = store.get(damaged);
  REQUIRE_FALSE(got);
  CHECK(is_value_error(got.error()));
  for (int i = 0; i < 20; ++i)
    CHECK(store.get(key_of(i))->value == value_of(i));
  auto page = store.stores[1]->list(list_request{"", "", 0}, 1000);
  REQUIRE(page);
  CHECK(std::count(page->keys.begin(), page->keys.end(), damaged) == 1);
  REQUIRE(store.put(damaged, "repaired"));
  CHECK(store.get(damaged)->value == "repaired");
}

TEST_CASE("rocksdb: a snapshot of data written since by another run is not "
          "taken, one of unchanged data is") {
  temp_dir dir;
  auto base = dir.sub("db");
  {
    auto store = must_open(base, 2);
    write_keys(store, 10);
    close_all(store);
  }
  // A stop with no write in its run keeps a snapshot the next open takes.
  {
    auto store = must_open(base, 2);
    for (auto& s : store.stores)
      REQUIRE_FALSE(s->close());
    for (size_t i = 0; i < 2; ++i)
      REQUIRE_FALSE(store.stores[i]->keep_snapshot("quiet " + std::to_string(i)));
    store.stores.clear();
  }
  {
    auto store = must_open(base, 2);
    for (size_t i = 0; i < 2; ++i) {
      auto kept = store.stores[i]->take_snapshot();
      REQUIRE(kept);
      REQUIRE(*kept);
      CHECK(**kept == "quiet " + std::to_string(i));
    }
    close_all(store);
  }
  // Run A closes the database; run B opens it and writes a key of shard 1
  // before A's snapshots land (A writes them after its close).
  auto a = must_open(base, 2);
  for (auto& s : a.stores)
    REQUIRE_FALSE(s->close());
  std::string key_of_one;
  for (int i = 500; key_of_one.empty(); ++i)
    if (shard_index(key_of(i), 2) == 1)
      key_of_one = key_of(i);
  {
    auto b = must_open(base, 2);
    REQUIRE(b.put(key_of_one, "written by B"));
    close_all(b);
  }
  for (size_t i = 0; i < 2; ++i)
    REQUIRE_FALSE(a.stores[i]->keep_snapshot("stale " + std::to_string(i)));
  a.stores.clear();
  auto store = must_open(base, 2);
  auto zero = store.stores[0]->take_snapshot();
  REQUIRE(zero);
  REQUIRE(*zero);
  CHECK(**zero == "stale 0"); // shard 0's data is what A left
  auto one = store.stores[1]->take_snapshot();
  REQUIRE(one);
  CHECK_FALSE(*one);
  CHECK(store.get(key_of_one)->value == "written by B");
}

TEST_CASE("rocksdb: each sweep step starts past the entries earlier steps "
          "removed") {
  temp_dir dir;
  auto store = must_open(dir.sub("db"), 1);
  auto& s = *store.stores[0];
  auto steps = 4;
  auto n = rocksdb_store::max_sweep_keys * static_cast<size_t>(steps);
  for (size_t i = 0; i < n; ++i)
    REQUIRE(s.set(set_request{"k:" + std::to_string(i), "v", 0,
                              condition::always()},
                  50, 10));
  REQUIRE_FALSE(s.commit());
  // The removed index entries stay as tombstones until a compaction: a
  // sweep that starts at the first index key steps over every one.
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  for (int step = 0; step < steps; ++step) {
    INFO("step " << step);
    rocksdb::get_perf_context()->Reset();
    CHECK(s.sweep(100) == rocksdb_store::max_sweep_keys);
    CHECK(rocksdb::get_perf_context()->internal_delete_skipped_count < 100);
  }
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  CHECK(s.sweep(100) == 0);
  CHECK(s.stats().keys == 0);
  // A key written later with an expiry before where the sweep stopped is
  // still swept.
  REQUIRE(s.set(set_request{"early", "v", 0, condition::always()}, 40, 10));
  REQUIRE_FALSE(s.commit());
  std::vector<std::string> names;
  CHECK(s.sweep(100, &names) == 1);
  CHECK(names == std::vector<std::string>{"early"});
}

TEST_CASE("rocksdb: a record at version 0 is damaged: never served, even "
          "through the codec") {
  temp_dir dir;
  auto path = dir.sub("db");
  key_files files;
  files.hex_key("k1");
  {
    auto store = must_open(path, 1);
    REQUIRE(store.put("a", "1"));
    close_all(store);
  }
  // Plaintext in a well-formed record but for its version, which this
  // store never writes: another program's, or damage.
  const std::string secret = R"({"secret":"planted in plaintext"})";
  write_raw(path, {{"p", rocks::encode_record(secret, 0, 0)}});
  auto cfg = rocksdb_config_for(path, 1);
  cfg.encryption.keys.push_back({"k1", files.dir() + "/k1.key"});
  cfg.encryption.primary = "k1";
  cfg.encryption.require_encrypted = true;
  auto store = open_rocksdb(cfg);
  REQUIRE(store);
  auto& raw = *store->stores[0];
  auto got = raw.get("p", 1000);
  REQUIRE_FALSE(got);
  CHECK(is_value_error(got.error()));
  CHECK(message_of(got.error()).find("'p' is damaged") != std::string::npos);
  auto page = raw.list(list_request{"", "", 0}, 1000);
  REQUIRE(page);
  CHECK(page->keys == std::vector<std::string>{"a", "p"});
  // Read as the shard reads it, through the codec, in a batch of reads.
  REQUIRE_FALSE(wrap_in_codecs(store->stores, cfg));
  std::vector<pending_op> ops(1);
  ops[0].kind = pending_op::get;
  ops[0].key = "p";
  store->stores[0]->apply(ops, 1000);
  REQUIRE_FALSE(ops[0].got);
  CHECK(is_value_error(ops[0].got.error()));
  // A write replaces it.
  REQUIRE(store->put("p", "repaired"));
  CHECK(store->get("p")->value == "repaired");
  close_all(*store);
}

namespace {

/// One shard at `path`, encrypted with the keys `ids` of `files` (the first
/// the primary).
state_config encrypted_config(const std::string& path, const key_files& files,
                              const std::vector<std::string>& ids) {
  auto cfg = rocksdb_config_for(path, 1);
  for (auto& id : ids)
    cfg.encryption.keys.push_back({id, files.dir() + "/" + id + ".key"});
  cfg.encryption.primary = ids.front();
  return cfg;
}

} // namespace

TEST_CASE("rocksdb: a record this version did not write holds no key back in "
          "a rotation, and the walk's log names it") {
  temp_dir dir;
  auto path = dir.sub("db");
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto coded_config = [&](std::vector<std::string> ids) {
    return encrypted_config(path, files, ids);
  };
  auto open_coded = [&](const state_config& cfg) {
    auto store = open_rocksdb(cfg);
    REQUIRE(store);
    REQUIRE_FALSE(wrap_in_codecs(store->stores, cfg));
    return std::move(*store);
  };
  {
    auto store = open_coded(coded_config({"k1"}));
    for (int i = 0; i < 20; ++i)
      REQUIRE(store.put(key_of(i), value_of(i)));
    close_all(store);
  }
  // Garbage, and a record at version 0, where two values were.
  write_raw(path, {{key_of(5), "not-a-record"},
                   {key_of(6), rocks::encode_record("x", 0, 0)}});
  captured_log log;
  auto store = open_coded(coded_config({"k2", "k1"}));
  auto& s = *store.stores[0];
  CHECK(s.damaged_for_good(key_of(5)));
  CHECK(s.damaged_for_good(key_of(6)));
  CHECK_FALSE(s.damaged_for_good(key_of(7)));
  CHECK_FALSE(s.damaged_for_good("absent"));
  while (s.background_step(1000)) {
  }
  REQUIRE_FALSE(s.commit());
  // No key will ever read them: k1 may go.
  CHECK(s.stats().reencrypt_pending == 0);
  CHECK_THAT(log.text(),
             Catch::Contains("passed over 2 values damaged for good")
               && Catch::Contains("'" + key_of(5) + "' is damaged"));
  for (int i = 0; i < 20; ++i)
    if (i != 5 && i != 6)
      CHECK(store.get(key_of(i))->value == value_of(i));
  close_all(store);
}

TEST_CASE("rocksdb: a key rotation walk that meets a damaged block says where "
          "and why, and backs off") {
  temp_dir dir;
  auto path = dir.sub("db");
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto coded_config = [&](std::vector<std::string> ids) {
    return encrypted_config(path, files, ids);
  };
  constexpr int written = 2000;
  {
    auto store = open_rocksdb(coded_config({"k1"}));
    REQUIRE(store);
    REQUIRE_FALSE(wrap_in_codecs(store->stores, coded_config({"k1"})));
    std::mt19937_64 rng{11};
    for (int i = 0; i < written; ++i) {
      std::string value(200, '\0');
      for (auto& c : value)
        c = static_cast<char>('a' + rng() % 26);
      REQUIRE(store->put(key_of(10'000 + i), value));
    }
    close_all(*store);
  }
  // Into a sorted file, one of whose data blocks is then overwritten.
  change_raw(path, [](rocksdb::DB& db, const std::vector<std::string>&,
                      std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
    for (auto* h : handles)
      REQUIRE(db.Flush(rocksdb::FlushOptions{}, h).ok());
  });
  std::string sst;
  uintmax_t largest = 0;
  for (auto& f : std::filesystem::directory_iterator(path))
    if (f.path().extension() == ".sst" && f.file_size() > largest) {
      largest = f.file_size();
      sst = f.path().string();
    }
  REQUIRE(largest > 100'000);
  overwrite(sst, largest / 3, std::string(64, '\x5a'));
  captured_log log;
  auto cfg = coded_config({"k2", "k1"});
  auto store = open_rocksdb(cfg);
  REQUIRE(store);
  REQUIRE_FALSE(wrap_in_codecs(store->stores, cfg));
  auto& s = *store->stores[0];
  // Ten minutes of shard ticks, one a second.
  int stepped = 0;
  for (unix_ms t = 1000; t < 1000 + 600'000; t += 1'000)
    while (s.background_step(t))
      ++stepped;
  CHECK(stepped > 0); // the pages before the block were walked
  CHECK(log.count("cannot list the keys after key 'order:t:1") == 1);
  CHECK(log.count("Corruption") >= 1);
  // The values past it may still be under k1.
  CHECK(s.stats().reencrypt_pending >= 1);
  close_all(*store);
}
