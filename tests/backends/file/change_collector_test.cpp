// change_collector: each key's newest logged change, kept on its own thread,
// whatever order the records come in and however many batches they fill.

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/file/change_collector.hpp"
#include "backends/shard_placement.hpp"

using namespace solver_state;

namespace {

wal_record record(const std::string& key, version_t version, bool removed) {
  wal_record r;
  r.op = removed ? wal_op::erase : wal_op::put;
  r.version = version;
  r.expires_at_ms = static_cast<unix_ms>(version * 10);
  r.key = key;
  if (!removed)
    r.value = "value of " + key + " at " + std::to_string(version);
  return r;
}

} // namespace

TEST_CASE("the collector keeps each key's newest change, over many batches "
          "in any order, in the key's shard") {
  constexpr size_t shards = 3;
  constexpr size_t keys = 200;
  // More records than the batches in flight hold, so the reader waits.
  constexpr size_t records = change_collector::batch_records
                             * (change_collector::max_batches * 4 + 1);
  std::mt19937_64 rng{42};
  std::vector<wal_record> log;
  std::map<std::string, wal_record> newest;
  for (size_t i = 0; i < records; ++i) {
    auto key = "order:" + std::to_string(rng() % keys);
    auto version = 1 + rng() % 1000000; // the same version twice: first wins
    bool removed = rng() % 7 == 0;
    auto r = record(key, version, removed);
    auto it = newest.find(key);
    if (it == newest.end() || version > it->second.version)
      newest[key] = r;
    log.push_back(std::move(r));
  }
  change_collector collector{shards};
  for (auto& r : log)
    collector.add(std::move(r));
  auto changed = collector.finish();
  REQUIRE(changed.size() == shards);
  size_t kept = 0;
  for (size_t shard = 0; shard < shards; ++shard) {
    for (auto& [key, c] : changed[shard]) {
      CAPTURE(key);
      CHECK(shard_index(key, shards) == shard);
      REQUIRE(newest.count(key) == 1);
      auto& want = newest.at(key);
      CHECK(c.data.version == want.version);
      CHECK(c.removed == (want.op == wal_op::erase));
      CHECK(c.data.value == want.value);
      CHECK(c.data.expires_at_ms == want.expires_at_ms);
      ++kept;
    }
  }
  CHECK(kept == newest.size());
}

TEST_CASE("a collector dropped before it finishes stops its thread") {
  change_collector collector{2};
  for (int i = 0; i < 5000; ++i)
    collector.add(record("k" + std::to_string(i), 1, false));
  // Its destructor joins the thread: the test ends instead of hanging.
}
