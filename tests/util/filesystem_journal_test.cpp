// The journal probe of the embedded engines' base_path, against a sysfs
// tree laid out as the kernel lays it out, and against this machine's.

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "util/filesystem_journal.hpp"

using namespace solver_state;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  std::string path;
  temp_dir() {
    std::string tmpl = "/tmp/journal-test-XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// A sysfs tree under `root` that names `device` as the block device of
/// `path`, with /fs/ext4/DEVICE/journal_task holding `task` (no ext4
/// directory when `task` is null, no journal_task when it is empty).
void fake_sysfs(const fs::path& root, const std::string& path,
                const std::string& device, const char* task) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  fs::create_directories(root / "dev" / "block");
  fs::create_directories(root / "devices" / "virtual" / "block" / device);
  fs::create_directory_symlink(
    fs::path{"../../devices/virtual/block"} / device,
    root / "dev" / "block"
      / (std::to_string(major(st.st_dev)) + ":"
         + std::to_string(minor(st.st_dev))));
  if (!task)
    return;
  auto ext4 = root / "fs" / "ext4" / device;
  fs::create_directories(ext4);
  if (*task)
    std::ofstream{ext4 / "journal_task"} << task << "\n";
}

} // namespace

TEST_CASE("journal_of reads ext4's journal task from sysfs") {
  temp_dir data;
  temp_dir sys;
  SECTION("no journal") {
    fake_sysfs(sys.path, data.path, "vdb", "<none>");
    auto j = journal_of(data.path, sys.path);
    CHECK(j.state == journal_state::no_journal);
    CHECK(j.device == "vdb");
  }
  SECTION("a journal, its thread's pid") {
    fake_sysfs(sys.path, data.path, "nvme0n1p2", "4916");
    auto j = journal_of(data.path, sys.path);
    CHECK(j.state == journal_state::journaled);
    CHECK(j.device == "nvme0n1p2");
  }
  SECTION("not ext4: the device has no ext4 directory") {
    fake_sysfs(sys.path, data.path, "sda1", nullptr);
    auto j = journal_of(data.path, sys.path);
    CHECK(j.state == journal_state::unknown);
    CHECK(j.device == "sda1");
  }
  SECTION("a kernel without journal_task") {
    fake_sysfs(sys.path, data.path, "sda1", "");
    CHECK(journal_of(data.path, sys.path).state == journal_state::unknown);
  }
  SECTION("no block device (tmpfs, overlayfs) or no sysfs") {
    CHECK(journal_of(data.path, sys.path).state == journal_state::unknown);
    CHECK(journal_of(data.path, sys.path + "/none").device.empty());
  }
  SECTION("a path that does not exist") {
    fake_sysfs(sys.path, data.path, "vdb", "<none>");
    CHECK(journal_of(data.path + "/missing", sys.path).state
          == journal_state::unknown);
  }
}

TEST_CASE("journal_of on this machine agrees with jbd2's own list") {
  // /proc/fs/jbd2 holds DEVICE-INODE for every journal the kernel runs.
  auto j = journal_of("/tmp");
  if (j.state == journal_state::unknown)
    return; // not ext4 here (a container's overlay, tmpfs)
  bool listed = false;
  std::error_code ec;
  for (auto& e : fs::directory_iterator{"/proc/fs/jbd2", ec})
    if (e.path().filename().string().rfind(j.device + "-", 0) == 0)
      listed = true;
  CHECK(listed == (j.state == journal_state::journaled));
}

TEST_CASE("the start-up warning names the device, the risk and the remedy") {
  filesystem_journal none{journal_state::no_journal, "vda"};
  auto file = journal_warning("file", "/srv/state", none, true);
  CHECK_THAT(file, Catch::Contains("file backend: /srv/state is on ext4 "
                                   "without a journal (/dev/vda)"));
  CHECK_THAT(file, Catch::Contains("fsck"));
  CHECK_THAT(file, Catch::Contains("folds that overwrite keys"));
  CHECK_THAT(file, Catch::Contains("journaled filesystem"));
  auto rocks = journal_warning("rocksdb", "/srv/db", none, false);
  CHECK_THAT(rocks, Catch::Contains("fsck"));
  CHECK_THAT(rocks, !Catch::Contains("folds"));
  CHECK(journal_warning("file", "/srv/state",
                        {journal_state::journaled, "vda"}, true)
          .empty());
  CHECK(journal_warning("file", "/srv/state", {}, true).empty());
}
