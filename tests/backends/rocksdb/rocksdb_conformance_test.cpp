// The conformance suite against the rocksdb backend, in a fresh temp
// directory.

#include <unistd.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "tests/support/conformance.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;
namespace fs = std::filesystem;

namespace {

testing::conformance_target rocksdb_target(const fs::path& dir) {
  testing::conformance_target target;
  target.config.type = "rocksdb";
  target.config.max_items = 0;
  target.config.rocksdb.base_path = dir.string();
  target.config.rocksdb.fsync = fsync_policy::always;
  target.config.rocksdb.cache_bytes = 8u << 20;
  target.reset = [dir] {
    fs::remove_all(dir);
    fs::create_directories(dir);
  };
  return target;
}

} // namespace

TEST_CASE("rocksdb backend conforms to the StateStore contract") {
  auto dir = fs::temp_directory_path()
             / ("solver-state-rocksdb-conformance-"
                + std::to_string(::getpid()));
  testing::run_conformance(rocksdb_target(dir));
  fs::remove_all(dir);
}

TEST_CASE("rocksdb backend conforms with compression and encryption on") {
  auto dir = fs::temp_directory_path()
             / ("solver-state-rocksdb-codec-conformance-"
                + std::to_string(::getpid()));
  testing::key_files keys;
  auto target = rocksdb_target(dir);
  testing::compress_and_encrypt(target.config, keys);
  testing::run_conformance(target);
  fs::remove_all(dir);
}
