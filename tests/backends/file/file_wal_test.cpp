// The write-ahead log on its own: preallocation (the zero tail), epochs
// (records from before a reset never replay), torn writes, corruption, and
// the version 1 format an upgrade finds.

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "backends/file/wal.hpp"
#include "tests/support/file_test_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
namespace fs = std::filesystem;

namespace {

struct opened_dir {
  temp_dir dir;
  unique_fd root;
  opened_dir() {
    root = unique_fd{default_file_env().get(),
                     ::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY)};
  }
  std::string path(const std::string& name) const { return dir.sub(name); }
};

wal_writer create_log(const opened_dir& d, const std::string& name) {
  auto log = wal_writer::create(default_file_env(), d.root.get(), name,
                                d.path(name));
  REQUIRE(log);
  return std::move(*log);
}

/// Appends records "k<first>".."k<first+n-1>", all of the same size, one
/// append each.
void append_records(wal_writer& log, int first, int n, char fill = 'a') {
  for (int i = first; i < first + n; ++i) {
    std::string batch;
    log.encode(batch, wal_op::put, "k" + std::to_string(i % 10),
               std::string(100, fill), static_cast<version_t>(100 + i), 0);
    REQUIRE_FALSE(log.append(batch, true));
  }
}

struct replayed {
  std::vector<wal_record> records;
  replay_summary summary;
};

caf::expected<replayed> replay(const opened_dir& d, const std::string& name) {
  replayed out;
  auto summary = replay_wal(*default_file_env(), d.root.get(), name,
                            d.path(name), [&](wal_record&& rec) {
                              out.records.push_back(std::move(rec));
                            });
  if (!summary)
    return std::move(summary.error());
  out.summary = *summary;
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_at(const std::string& path, size_t off, const std::string& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(off));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

} // namespace

TEST_CASE("the log is preallocated with zeros, overwritten in place, and "
          "replay ends cleanly at the zero tail") {
  opened_dir d;
  auto log = create_log(d, "a.log");
  auto allocated = log.allocated();
  CHECK(allocated == wal_chunk_bytes);
  CHECK(fs::file_size(d.path("a.log")) == allocated);
  append_records(log, 0, 20);
  // The appends changed no file size: fdatasync flushed data only.
  CHECK(fs::file_size(d.path("a.log")) == allocated);
  auto bytes = read_file(d.path("a.log"));
  CHECK(std::all_of(bytes.begin() + static_cast<long>(log.size()),
                    bytes.end(), [](char c) { return c == 0; }));
  auto r = replay(d, "a.log");
  REQUIRE(r);
  CHECK(r->records.size() == 20);
  CHECK(r->records.back().version == 119);
  CHECK(r->summary.end == log.size());
  CHECK_FALSE(r->summary.torn);
}

TEST_CASE("without preallocation (fsync: interval, never) the log grows "
          "with its appends and replays the same") {
  opened_dir d;
  auto made = wal_writer::create(default_file_env(), d.root.get(), "a.log",
                                 d.path("a.log"), false);
  REQUIRE(made);
  auto& log = *made;
  CHECK(fs::file_size(d.path("a.log"))
        == wal_header_bytes + wal_terminator_bytes);
  append_records(log, 0, 5);
  CHECK(fs::file_size(d.path("a.log")) == log.size() + wal_terminator_bytes);
  REQUIRE_FALSE(log.reset());
  append_records(log, 10, 2, 'n');
  auto r = replay(d, "a.log");
  REQUIRE(r);
  REQUIRE(r->records.size() == 2);
  CHECK(r->records[0].value == std::string(100, 'n'));
  CHECK_FALSE(r->summary.torn);
}

TEST_CASE("an append past the zeroed space zero-fills the next chunk") {
  opened_dir d;
  auto log = create_log(d, "a.log");
  std::string batch;
  std::string big(wal_chunk_bytes / 3, 'b');
  for (int i = 0; i < 4; ++i)
    log.encode(batch, wal_op::put, "k" + std::to_string(i), big,
               static_cast<version_t>(i + 1), 0);
  REQUIRE_FALSE(log.append(batch, true));
  CHECK(log.allocated() > log.size() + wal_terminator_bytes);
  CHECK(log.allocated() % wal_chunk_bytes == 0);
  CHECK(fs::file_size(d.path("a.log")) == log.allocated());
  auto r = replay(d, "a.log");
  REQUIRE(r);
  CHECK(r->records.size() == 4);
  CHECK_FALSE(r->summary.torn);
}

TEST_CASE("records from before a reset never replay, even where the "
          "terminator was lost") {
  opened_dir d;
  auto log = create_log(d, "a.log");
  append_records(log, 0, 10, 'o');
  auto before = read_file(d.path("a.log"));
  auto epoch = log.epoch();
  REQUIRE_FALSE(log.reset());
  CHECK(log.epoch() > epoch);
  CHECK(log.size() == wal_header_bytes);
  SECTION("nothing written after the reset") {
    auto r = replay(d, "a.log");
    REQUIRE(r);
    CHECK(r->records.empty());
    CHECK_FALSE(r->summary.torn);
    // A crash lost the terminator written with the header: the bytes there
    // are the old first record, aligned exactly where a record belongs.
    write_at(d.path("a.log"), wal_header_bytes,
             before.substr(wal_header_bytes, wal_terminator_bytes));
    r = replay(d, "a.log");
    REQUIRE(r);
    CHECK(r->records.empty());
    CHECK(r->summary.torn);
  }
  SECTION("fewer records of the same size after the reset") {
    append_records(log, 20, 3, 'n');
    auto end = log.size();
    // The same sizes: the new records end exactly where old record 4
    // starts. A crash lost the terminator: old record 4 is intact there.
    write_at(d.path("a.log"), end, before.substr(end, wal_terminator_bytes));
    auto r = replay(d, "a.log");
    REQUIRE(r);
    REQUIRE(r->records.size() == 3);
    for (auto& rec : r->records)
      CHECK(rec.value == std::string(100, 'n'));
    CHECK(r->summary.end == end);
    CHECK(r->summary.torn);
  }
  SECTION("a recycled log starts over with the next epoch") {
    log = create_log(d, "b.log"); // closes a.log
    auto reused = wal_writer::recycle(default_file_env(), d.root.get(),
                                      "a.log", "c.log", d.path("c.log"));
    REQUIRE(reused);
    CHECK(reused->epoch() > epoch + 1);
    CHECK(reused->allocated() == before.size());
    CHECK_FALSE(fs::exists(d.path("a.log")));
    append_records(*reused, 30, 2, 'r');
    write_at(d.path("c.log"), reused->size(),
             before.substr(reused->size(), wal_terminator_bytes));
    auto r = replay(d, "c.log");
    REQUIRE(r);
    REQUIRE(r->records.size() == 2);
    CHECK(r->records[1].value == std::string(100, 'r'));
  }
}

TEST_CASE("a torn last write stops replay, a bad record before valid ones "
          "is corruption") {
  opened_dir d;
  auto log = create_log(d, "a.log");
  append_records(log, 0, 10);
  auto end = log.size();
  auto path = d.path("a.log");
  SECTION("torn: the end of the last record never reached the disk") {
    write_at(path, end - 30, std::string(30, '\0'));
    auto r = replay(d, "a.log");
    REQUIRE(r);
    CHECK(r->records.size() == 9);
    CHECK(r->summary.torn);
  }
  SECTION("a bit flip in the middle") {
    write_at(path, end / 2, "X");
    auto r = replay(d, "a.log");
    REQUIRE_FALSE(r);
    CHECK_THAT(message_of(r.error()),
               Catch::Contains("corrupt log") && Catch::Contains(path)
                 && Catch::Contains("followed by valid records"));
  }
  SECTION("a lost write in the middle reads as zeros") {
    // A zeroed stretch looks like the clean end of the log, but valid
    // records of this epoch follow it.
    write_at(path, wal_header_bytes + 200, std::string(300, '\0'));
    auto r = replay(d, "a.log");
    REQUIRE_FALSE(r);
    CHECK_THAT(message_of(r.error()),
               Catch::Contains("followed by valid records"));
  }
  SECTION("a bad header names the file") {
    write_at(path, 9, "\x7f");
    auto r = replay(d, "a.log");
    REQUIRE_FALSE(r);
    CHECK_THAT(message_of(r.error()),
               Catch::Contains("corrupt log") && Catch::Contains(path)
                 && Catch::Contains("bad header"));
  }
}

TEST_CASE("a failed append is zeroed again and never replays") {
  opened_dir d;
  auto env = std::make_shared<failing_env>();
  auto made = wal_writer::create(env, d.root.get(), "a.log", d.path("a.log"));
  REQUIRE(made);
  auto log = std::move(*made);
  std::string batch;
  log.encode(batch, wal_op::put, "good", "1", 1, 0);
  REQUIRE_FALSE(log.append(batch, true));
  batch.clear();
  for (int i = 0; i < 5; ++i)
    log.encode(batch, wal_op::put, "bad" + std::to_string(i), "2", 10 + i, 0);
  env->fail_syncs = true; // written, but never known to be durable
  CHECK(log.append(batch, true));
  // The zeroing needs a sync too: still pending.
  std::string next;
  log.encode(next, wal_op::put, "later", "3", 20, 0);
  CHECK(log.append(next, true));
  env->fail_syncs = false;
  REQUIRE_FALSE(log.append(next, true));
  auto r = replay(d, "a.log");
  REQUIRE(r); // no valid record of the failed batch after the good ones
  REQUIRE(r->records.size() == 2);
  CHECK(r->records[0].key == "good");
  CHECK(r->records[1].key == "later");
}

TEST_CASE("a version 1 log (before preallocation) is still replayed") {
  temp_dir dir;
  // What the previous binary left: "SSWAL1" and records with plain CRCs up
  // to the end of the file, the last one torn.
  std::string v1("SSWAL1\n\0", 8);
  encode_wal_record(v1, 0, wal_op::put, "order:old:1", "from v1", 7, 0);
  encode_wal_record(v1, 0, wal_op::put, "order:old:2", "also v1", 8, 0);
  encode_wal_record(v1, 0, wal_op::erase, "order:old:2", "", 9, 0);
  encode_wal_record(v1, 0, wal_op::put, "order:old:3", "torn", 10, 0);
  v1.resize(v1.size() - 3);
  std::ofstream(dir.sub("~wal-0-4.log"), std::ios::binary) << v1;
  auto store = open_store(file_config_for(dir.path, 2));
  REQUIRE(store);
  auto got = store->get("order:old:1");
  REQUIRE(got);
  CHECK(got->value == "from v1");
  CHECK(got->version == 7);
  CHECK_FALSE(store->get("order:old:2"));
  CHECK_FALSE(store->get("order:old:3"));
  REQUIRE(store->put("order:old:1", "new"));
  // Folded and deleted: the next start does not need it.
  CHECK_FALSE(fs::exists(dir.sub("~wal-0-4.log")));
}
