// Tests of the file backend on a full disk, the way an operator meets one:
// writes refused as insufficient_storage while reads go on, a start on a
// full disk that comes up read-only, and checkpoints that give back what
// they took when they fail.

#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <string>

#include "backends/file/recovery.hpp"
#include "backends/file/store.hpp"
#include "tests/support/file_test_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
namespace fs = std::filesystem;

namespace {

/// Every file under `dir` whose name ends in "~tmp".
std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    auto name = e.path().filename().string();
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "~tmp") == 0)
      out.push_back(e.path().string());
  }
  return out;
}

std::set<std::string> logs_in(const std::string& dir) {
  std::set<std::string> out;
  for (auto& name : root_files(dir))
    if (name.rfind("~wal-", 0) == 0)
      out.insert(name);
  return out;
}

/// Keys on both shards of a 2-shard store: some written, one deleted, and
/// a crash before any checkpoint (every change is only in the logs).
struct unfolded_image {
  temp_dir dir;
  temp_dir image;
  std::vector<std::string> keys;
  std::string crashed = image.sub("crashed");

  unfolded_image() {
    auto store = open_store(file_config_for(dir.path, 2, fsync_policy::always));
    REQUIRE(store);
    for (int i = 0; i < 20; ++i) {
      keys.push_back("order:k" + std::to_string(i));
      REQUIRE(store->put(keys.back(), "v" + std::to_string(i)));
    }
    REQUIRE(store->put("order:gone", "x"));
    REQUIRE(store->remove("order:gone"));
    crash_image(dir.path, crashed);
  }

  /// Opens the image on `env`, a disk that is full at first.
  caf::expected<opened_store> open_on_full_disk(
    const std::shared_ptr<failing_env>& env) {
    env->fail_writes = true;
    env->free_space = 0;
    return open_store(file_config_for(crashed, 2, fsync_policy::always), env);
  }
};

} // namespace

TEST_CASE("on a full disk writes answer insufficient_storage without "
          "touching the log, reads go on, and writes resume once there is "
          "room") {
  temp_dir dir;
  auto env = std::make_shared<failing_env>();
  auto store = open_store(file_config_for(dir.path, 1, fsync_policy::always),
                          env);
  REQUIRE(store);
  REQUIRE(store->put("a", "one"));
  auto& shard = store->of("a");

  env->fail_writes = true;
  env->free_space = 0;
  auto failed = store->put("a", "two");
  REQUIRE_FALSE(failed);
  CHECK(code_of(failed.error()) == state_errc::insufficient_storage);
  CHECK_THAT(message_of(failed.error()),
             Catch::Contains("No space left on device"));
  // Read-only now: the next writes are refused before they reach the log
  // (the disk would have taken them: writes no longer fail).
  env->fail_writes = false;
  auto refused = shard.set(set_request{"b", "x", 0, condition::always()}, 0,
                           1000);
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::insufficient_storage);
  CHECK_THAT(message_of(refused.error()),
             Catch::Contains("read-only") && Catch::Contains(dir.path)
               && Catch::Contains("0 bytes free"));
  CHECK_FALSE(shard.has_pending_commit());
  auto removed = shard.erase(delete_request{"a", condition::always()}, 1000);
  REQUIRE_FALSE(removed);
  CHECK(code_of(removed.error()) == state_errc::insufficient_storage);
  auto health = shard.health_check();
  CHECK(code_of(health) == state_errc::insufficient_storage);
  CHECK_THAT(message_of(health), Catch::Contains("read-only"));
  CHECK(store->get("a")->value == "one");

  // Room again: the very next write finds it (no checkpoint needed).
  env->free_space = int64_t{1} << 30;
  REQUIRE(store->put("b", "x"));
  CHECK_FALSE(shard.health_check());
  CHECK(store->get("b")->value == "x");
}

TEST_CASE("a fold that fails on a full disk removes the temp files it "
          "wrote") {
  temp_dir dir;
  auto env = std::make_shared<failing_env>();
  // More keys than file_tree::batch_threshold (temp files first, then the
  // renames), or a few (one file after the other).
  auto count = GENERATE(as<size_t>{}, file_tree::batch_threshold + 8, 4);
  auto store = open_store(file_config_for(dir.path, 1), env);
  REQUIRE(store);
  for (size_t i = 0; i < count; ++i)
    REQUIRE(store->put("order:" + std::to_string(i), std::string(100, 'v')));
  // The next log takes a write or two; the value files fail from the third.
  env->writes_before_failure = 3;
  auto& shard = store->of("order:0");
  CHECK_FALSE(shard.checkpoint()); // the fold runs in the background
  auto* files = dynamic_cast<file_store*>(&shard);
  REQUIRE(files);
  auto err = files->finish_fold();
  REQUIRE(err);
  CHECK(code_of(err) == state_errc::insufficient_storage);
  CHECK(temp_files(dir.path).empty());
  // The fold is tried again, and works, once the disk does.
  env->writes_before_failure = -1;
  REQUIRE_FALSE(store->checkpoint_all());
  for (size_t i = 0; i < count; ++i)
    CHECK(store->get("order:" + std::to_string(i))->value
          == std::string(100, 'v'));
}

TEST_CASE("a start on a full disk comes up read-only, serves every key, and "
          "folds the logs of the last run once there is room") {
  unfolded_image crash;
  auto old_logs = logs_in(crash.crashed);
  REQUIRE_FALSE(old_logs.empty());
  auto env = std::make_shared<failing_env>();
  auto store = crash.open_on_full_disk(env);
  REQUIRE(store);
  for (auto& s : store->stores) {
    auto health = s->health_check();
    CHECK(code_of(health) == state_errc::insufficient_storage);
    CHECK_THAT(message_of(health), Catch::Contains("read-only"));
  }
  for (size_t i = 0; i < crash.keys.size(); ++i)
    CHECK(store->get(crash.keys[i])->value == "v" + std::to_string(i));
  CHECK_FALSE(store->get("order:gone"));
  auto refused = store->put("order:new", "n");
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::insufficient_storage);
  // It cleaned up after itself and kept the logs it could not fold.
  CHECK(temp_files(crash.crashed).empty());
  CHECK(logs_in(crash.crashed) == old_logs);

  // Room again: each shard's next health check (a /readyz) creates its
  // log, under a name no kept log has (a log of the last run must never be
  // overwritten). No fold yet: that waits for a checkpoint.
  env->fail_writes = false;
  env->free_space = int64_t{1} << 30;
  for (auto& s : store->stores)
    CHECK_FALSE(s->health_check());
  CHECK(logs_in(crash.crashed).size() == old_logs.size() + 2);
  REQUIRE(store->put("order:new", "n"));
  SECTION("before the fold") {
  }
  SECTION("once every shard has folded, the old logs are gone") {
    REQUIRE_FALSE(store->checkpoint_all());
    REQUIRE_FALSE(store->checkpoint_all());
    for (auto& name : old_logs)
      CHECK_FALSE(fs::exists(crash.crashed + "/" + name));
  }
  // A crash now loses nothing.
  temp_dir again;
  crash_image(crash.crashed, again.sub("c"));
  auto reopened = open_store(file_config_for(again.sub("c"), 2));
  REQUIRE(reopened);
  for (size_t i = 0; i < crash.keys.size(); ++i)
    CHECK(reopened->get(crash.keys[i])->value == "v" + std::to_string(i));
  CHECK(reopened->get("order:new")->value == "n");
  CHECK_FALSE(reopened->get("order:gone"));
}

TEST_CASE("while another shard has not folded its part of the kept logs, a "
          "delete folded by one shard stays deleted across a crash") {
  unfolded_image crash;
  auto env = std::make_shared<failing_env>();
  auto store = crash.open_on_full_disk(env);
  REQUIRE(store);
  env->fail_writes = false;
  env->free_space = int64_t{1} << 30;
  // One shard gets room and folds twice: its part of the kept logs, then a
  // delete of one of their keys. The other shard does nothing yet.
  auto& key = crash.keys[0];
  auto& shard = store->of(key);
  auto* files = dynamic_cast<file_store*>(&shard);
  REQUIRE(files);
  REQUIRE_FALSE(shard.checkpoint()); // creates the log
  REQUIRE_FALSE(shard.checkpoint()); // folds
  REQUIRE_FALSE(files->finish_fold());
  REQUIRE(store->remove(key));
  REQUIRE_FALSE(shard.checkpoint());
  REQUIRE_FALSE(files->finish_fold());
  CHECK_FALSE(store->get(key));
  // A crash now: the kept logs still hold the key's put, so the log with
  // its delete must still be there too.
  temp_dir again;
  crash_image(crash.crashed, again.sub("c"));
  auto reopened = open_store(file_config_for(again.sub("c"), 2));
  REQUIRE(reopened);
  CHECK_FALSE(reopened->get(key));
  for (size_t i = 1; i < crash.keys.size(); ++i)
    CHECK(reopened->get(crash.keys[i])->value == "v" + std::to_string(i));
}
