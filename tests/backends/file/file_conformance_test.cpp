// The conformance suite against the file backend, in a fresh temp directory.

#include <unistd.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "tests/support/conformance.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;
namespace fs = std::filesystem;

TEST_CASE("file backend conforms to the StateStore contract") {
  auto dir = fs::temp_directory_path()
             / ("solver-state-file-conformance-" + std::to_string(::getpid()));
  testing::conformance_target target;
  target.config.type = "file";
  target.config.max_items = 0;
  target.config.file.base_path = dir.string();
  target.config.file.fsync = fsync_policy::always;
  target.reset = [dir] {
    fs::remove_all(dir);
    fs::create_directories(dir);
  };
  testing::run_conformance(target);
  fs::remove_all(dir);
}

TEST_CASE("file backend conforms with compression and encryption on") {
  auto dir = fs::temp_directory_path()
             / ("solver-state-file-codec-conformance-"
                + std::to_string(::getpid()));
  testing::key_files keys;
  testing::conformance_target target;
  target.config.type = "file";
  target.config.max_items = 0;
  target.config.file.base_path = dir.string();
  target.config.file.fsync = fsync_policy::always;
  testing::compress_and_encrypt(target.config, keys);
  target.reset = [dir] {
    fs::remove_all(dir);
    fs::create_directories(dir);
  };
  testing::run_conformance(target);
  fs::remove_all(dir);
}
