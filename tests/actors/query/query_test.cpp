// Queries through the running store (shards, router, fan-out) on the
// memory and file backends; the file store's indexes rebuilt at restart;
// and a shard's indexes while they are being built, and over values the
// store cannot read (damaged, unreachable, in the file backend's quarantine).

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "actors/query/shard_indexes.hpp"
#include "backends/file/value.hpp"
#include "backends/memory/store.hpp"
#include "messages/errors.hpp"
#include "tests/support/damaged_store.hpp"
#include "tests/support/file_test_support.hpp"
#include "tests/support/query_checks.hpp"

using namespace solver_state;
using namespace solver_state::testing;

TEST_CASE("queries on a memory store") {
  running_store store{query_config("memory", 4)};
  check_queries(store, {true, true});
}

TEST_CASE("queries on a memory store of one shard") {
  running_store store{query_config("memory", 1)};
  check_queries(store, {true, true});
}

TEST_CASE("queries on a file store") {
  temp_dir dir;
  auto cfg = query_config("file", 3);
  cfg.file = file_config_for(dir.path, 3).file;
  running_store store{cfg};
  check_queries(store, {true, false});
}

TEST_CASE("a file store's indexes are rebuilt at restart, also with another "
          "shard count") {
  temp_dir dir;
  auto cfg = query_config("file", 3);
  cfg.file = file_config_for(dir.path, 3).file;
  {
    running_store store{cfg};
    for (int i = 0; i < 2000; ++i) {
      auto status = i % 100 == 0 ? "pending" : "filled";
      auto value = std::string{R"({"status":")"} + status
                   + R"(","deadline":)" + std::to_string(5000 - i) + "}";
      REQUIRE(store.ask<write_result>(
        put_atom_v, set_request{"q:" + std::to_string(i), value, 0, {}}));
    }
    REQUIRE(store.ask<bool>(delete_atom_v, delete_request{"q:100", {}}));
  }
  cfg.shards = 2;
  running_store again{cfg};
  auto found = query_keys(again,
                          {where("status", query_op::eq, {str("pending")})},
                          "deadline", false, 7);
  std::vector<std::string> expect;
  for (int i = 1900; i >= 0; i -= 100)
    if (i != 100)
      expect.push_back("q:" + std::to_string(i));
  CHECK(found == expect);
}

// An evicted key stayed in the shard's indexes (an eviction is no change
// event): under lru they grew with every key ever written, and a query
// paged through empty pages of evicted keys before it reached the live
// ones (found by review).
TEST_CASE("keys evicted under lru leave the indexes: they hold the store's "
          "keys, and a query finds the live ones on its first page") {
  auto cfg = query_config("memory", 1);
  cfg.max_items = 10;
  cfg.eviction = eviction_policy::lru;
  running_store store{cfg};
  for (int i = 0; i < 1000; ++i)
    REQUIRE(store.ask<write_result>(
      put_atom_v, set_request{"q:" + std::to_string(i),
                              R"({"status":"pending"})", 0, {}}));
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  req.limit = 100;
  auto page = ask_query(store, req);
  REQUIRE(page);
  std::vector<std::string> found;
  for (auto& item : page->items)
    found.push_back(item.key);
  std::vector<std::string> live;
  for (int i = 990; i < 1000; ++i)
    live.push_back("q:" + std::to_string(i));
  CHECK(found == live);
  CHECK(page->next_cursor.empty());
  CHECK(reports_indexed_keys(store, 10));
}

namespace {

/// Runs build steps until the build (or refresh) is done; how many.
int run_build(shard_indexes& indexes, state_store& store) {
  int steps = 0;
  while (true) {
    auto more = indexes.build_step(store, 1);
    REQUIRE(more);
    ++steps;
    if (!*more)
      return steps;
  }
}

/// One shard's indexes over a memory store, built while it is empty.
struct built_indexes {
  std::shared_ptr<key_budget> budget = std::make_shared<key_budget>(0);
  memory_store store{budget, eviction_policy::reject, 0};
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};

  built_indexes() { run_build(indexes, store); }
};

} // namespace

TEST_CASE("a shard's indexes answer backend_unavailable until built, and the "
          "build reads every key in chunks") {
  auto budget = std::make_shared<key_budget>(0);
  memory_store store{budget, eviction_policy::reject, 0};
  size_t n = shard_indexes::build_chunk * 2 + 10;
  for (size_t i = 0; i < n; ++i)
    REQUIRE(store.set(set_request{"q:" + std::to_string(i),
                                  R"({"status":"pending"})", 0, {}},
                      0, 1));
  REQUIRE(store.set(set_request{"other:1", R"({"status":"pending"})", 0, {}},
                    0, 1));
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  req.limit = 1;
  auto early = indexes.query(store, req, 1, 1 << 20);
  REQUIRE_FALSE(early);
  CHECK(code_of(early.error()) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(early.error()), Catch::Contains("being built"));
  // A bad query is told so even while building.
  auto bad = req;
  bad.where[0].index = "colour";
  auto refused = indexes.query(store, bad, 1, 1 << 20);
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::bad_request);
  CHECK(run_build(indexes, store) == 3);
  CHECK(indexes.indexed_keys() == n);
  auto page = indexes.query(store, req, 1, 1 << 20);
  REQUIRE(page);
  CHECK(page->items.size() == 1);
}

TEST_CASE("a refresh reads every key again while queries are answered, and "
          "picks up writes the indexes never saw") {
  auto budget = std::make_shared<key_budget>(0);
  memory_store store{budget, eviction_policy::reject, 0};
  auto set = [&](const std::string& key, const std::string& value) {
    REQUIRE(store.set(set_request{key, value, 0, {}}, 0, 1));
  };
  for (int i = 0; i < 600; ++i)
    set("q:" + std::to_string(i), R"({"status":"filled"})");
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  CHECK_FALSE(indexes.refresh()); // the start-up build is still to run
  run_build(indexes, store);
  REQUIRE_FALSE(indexes.building());
  // Written behind the indexes' back, as another node's writes are on a
  // shared engine while the change feed is lost.
  set("q:7", R"({"status":"pending"})");
  set("q:new", R"({"status":"pending"})");
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  auto keys_of = [&](const query_page& page) {
    std::vector<std::string> out;
    for (auto& item : page.items)
      out.push_back(item.key);
    return out;
  };
  auto before = indexes.query(store, req, 1, 1 << 20);
  REQUIRE(before);
  CHECK(before->items.empty());
  CHECK(indexes.refresh());
  CHECK_FALSE(indexes.refresh()); // one pass at a time; it starts over
  CHECK(indexes.reading());
  CHECK_FALSE(indexes.building());
  // Answered during the refresh (not "being built").
  CHECK(indexes.query(store, req, 1, 1 << 20));
  CHECK(run_build(indexes, store) == 2);
  CHECK_FALSE(indexes.reading());
  auto after = indexes.query(store, req, 1, 1 << 20);
  REQUIRE(after);
  CHECK(keys_of(*after) == std::vector<std::string>{"q:7", "q:new"});
}

TEST_CASE("a refresh forgets keys deleted behind the indexes' back, and "
          "keeps those written meanwhile") {
  auto budget = std::make_shared<key_budget>(0);
  memory_store store{budget, eviction_policy::reject, 0};
  auto set = [&](const std::string& key, const std::string& value) {
    auto r = store.set(set_request{key, value, 0, {}}, 0, 1);
    REQUIRE(r);
    return r->version;
  };
  for (int i = 0; i < 600; ++i)
    set("q:" + std::to_string(i), R"({"status":"pending"})");
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  run_build(indexes, store);
  REQUIRE(indexes.indexed_keys() == 600);
  // Deleted during a gap in the change feed: the indexes never heard.
  for (auto key : {"q:3", "q:300", "q:599"})
    REQUIRE(store.erase(delete_request{key, {}}, 1));
  REQUIRE(indexes.refresh());
  // One step of the pass, then a new key is written where the walk has
  // passed (q:00 sorts between q:0 and q:1): told, as this shard's own
  // writes are, and never read by the pass.
  auto more = indexes.build_step(store, 1);
  REQUIRE(more);
  REQUIRE(*more);
  auto v = set("q:00", R"({"status":"filled"})");
  indexes.apply(change_event{0, 0, "q:00", v, R"({"status":"filled"})", 0});
  run_build(indexes, store);
  CHECK_FALSE(indexes.reading());
  CHECK(indexes.indexed_keys() == 600 - 3 + 1);
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("filled")})};
  auto filled = indexes.find(req, 1);
  REQUIRE(filled);
  REQUIRE(filled->items.size() == 1);
  CHECK(filled->items[0].key == "q:00");
  // Without a pass, nothing is forgotten.
  REQUIRE(store.erase(delete_request{"q:5", {}}, 1));
  CHECK(indexes.indexed_keys() == 598);
}

TEST_CASE("following a shared engine's changes reads back only the keys "
          "the indexes do not hold as changed") {
  auto budget = std::make_shared<key_budget>(0);
  memory_store store{budget, eviction_policy::reject, 0};
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  run_build(indexes, store);
  auto set = [&](const std::string& key, const std::string& value) {
    auto r = store.set(set_request{key, value, 0, {}}, 0, 1);
    REQUIRE(r);
    return r->version;
  };
  // Written through this shard: indexed at its commit.
  auto own = [&](const std::string& key, const std::string& value) {
    auto v = set(key, value);
    indexes.apply(change_event{0, 0, key, v, value, 0});
    return v;
  };
  auto put = [](const std::string& key, version_t v) {
    return change_event{0, static_cast<uint8_t>(change_cause::put), key, v,
                        {}, 0};
  };
  auto removed = [](const std::string& key) {
    return change_event{0, static_cast<uint8_t>(change_cause::del), key, 0,
                        {}, 0};
  };
  auto mine = own("q:own", R"({"status":"pending"})");
  own("q:erased", R"({"status":"pending"})");
  // Behind the indexes' back, as another instance writes on the engine.
  auto theirs = set("q:theirs", R"({"status":"pending"})");
  REQUIRE(store.erase(delete_request{"q:erased", {}}, 0));
  auto overwritten = own("q:overwritten", R"({"status":"filled"})");
  set("q:overwritten", R"({"status":"pending"})");
  auto read = indexes.unheld({put("q:own", mine), put("q:theirs", theirs),
                              removed("q:never-indexed"), removed("q:erased"),
                              put("q:overwritten", overwritten + 1),
                              put("other:1", 1)});
  CHECK(read.size() == 3); // q:theirs, q:erased, q:overwritten
  REQUIRE_FALSE(indexes.reindex(store, read, 1));
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  auto page = indexes.query(store, req, 1, 1 << 20);
  REQUIRE(page);
  std::vector<std::string> keys;
  for (auto& item : page->items)
    keys.push_back(item.key);
  CHECK(keys == std::vector<std::string>{"q:overwritten", "q:own", "q:theirs"});
}

TEST_CASE("a query page holds values up to the reply budget, and resumes "
          "after it") {
  built_indexes built;
  auto& store = built.store;
  auto& indexes = built.indexes;
  std::string pad(1000, 'x');
  for (int i = 0; i < 10; ++i) {
    auto key = "q:" + std::to_string(i);
    auto value = R"({"status":"big","pad":")" + pad + R"("})";
    auto v = store.set(set_request{key, value, 0, {}}, 0, 1);
    REQUIRE(v);
    indexes.apply(change_event{0, 0, key, v->version, value, 0});
  }
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("big")})};
  req.with_values = true;
  req.limit = 10;
  std::vector<std::string> keys;
  int pages = 0;
  while (true) {
    auto page = indexes.query(store, req, 1, 3500); // three values a page
    REQUIRE(page);
    CHECK(page->items.size() <= 3);
    for (auto& item : page->items) {
      CHECK(item.value.size() > 1000);
      keys.push_back(item.key);
    }
    ++pages;
    if (page->next_cursor.empty())
      break;
    req.cursor = page->next_cursor;
  }
  CHECK(pages == 4);
  CHECK(keys.size() == 10);
}

TEST_CASE("the typed helper asks for an order type's orders of one status, "
          "soonest first") {
  auto req = orders_with_status("eip7683", "status", "pending", "deadline");
  CHECK(req.prefix == "order:eip7683:");
  REQUIRE(req.where.size() == 1);
  CHECK(req.where[0].index == "status");
  CHECK(req.where[0].what() == query_op::eq);
  CHECK(req.where[0].values.at(0) == index_value::of(std::string{"pending"}));
  CHECK(req.order_by == "deadline");
  CHECK_FALSE(req.descending);
  CHECK(req.with_values);
}

TEST_CASE("a found page confirmed after writes keeps the keys still in their "
          "places, at their new versions, and leaves out the others") {
  built_indexes built;
  auto& store = built.store;
  auto& indexes = built.indexes;
  // Written through the store and fed to the indexes, as a shard does.
  auto put = [&](const std::string& key, const std::string& value) {
    auto v = store.set(set_request{key, value, 0, {}}, 0, 1);
    REQUIRE(v);
    indexes.apply(change_event{0, 0, key, v->version, value, 0});
  };
  auto order = [](const char* status, int deadline, const char* note = "") {
    return std::string{R"({"status":")"} + status + R"(","deadline":)"
           + std::to_string(deadline) + R"(,"note":")" + note + "\"}";
  };
  for (int i = 1; i <= 6; ++i)
    put("q:" + std::to_string(i), order("pending", i * 10));
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  req.order_by = "deadline";
  req.with_values = true;
  auto found = indexes.find(req, 1);
  REQUIRE(found);
  REQUIRE(found->items.size() == 6);
  CHECK(found->items[0].value.empty()); // a find reads no value
  // Between the find and the confirmation:
  put("q:1", order("pending", 10, "touched")); // same place, new version
  put("q:2", order("pending", 25));            // moved within the order
  put("q:3", order("filled", 30));             // no longer matches
  REQUIRE(store.erase(delete_request{"q:4", {}}, 1));
  indexes.apply(change_event{0, static_cast<uint8_t>(change_cause::del),
                             "q:4", 0, "", 0});
  // Behind the indexes' back (a drift, or another instance's write whose
  // feed message is still on its way): read into the indexes, and kept,
  // as it still matches in its place.
  REQUIRE(store.set(set_request{"q:5", order("pending", 50, "drift"), 0, {}},
                    0, 1));
  auto page = indexes.confirm(store, req, found->items, 1, 1 << 20);
  REQUIRE(page);
  std::vector<std::string> keys;
  for (auto& item : page->items)
    keys.push_back(item.key);
  CHECK(keys == std::vector<std::string>{"q:1", "q:5", "q:6"});
  REQUIRE(page->items.size() == 3);
  CHECK_THAT(page->items[0].value, Catch::Contains("touched"));
  CHECK(page->items[0].version > found->items[0].version);
  CHECK_THAT(page->items[1].value, Catch::Contains("drift"));
  CHECK(page->next_cursor.empty());
  // The drifted key was read into the indexes again.
  auto again = indexes.query(store, req, 1, 1 << 20);
  REQUIRE(again);
  std::vector<std::string> now;
  for (auto& item : again->items)
    now.push_back(item.key);
  CHECK(now == std::vector<std::string>{"q:1", "q:2", "q:5", "q:6"});
}

TEST_CASE("paging over shards stays exact while the keys it pages through "
          "are rewritten in place") {
  // Every write here keeps the key's status and deadline: its version
  // changes between a page's two halves (find, confirm) and the key must
  // still come, exactly once.
  running_store store{query_config("memory", 4)};
  auto order = [](int i, int note) {
    return R"({"status":"pending","deadline":)" + std::to_string(i)
           + R"(,"note":)" + std::to_string(note) + "}";
  };
  const int n = 400;
  for (int i = 0; i < n; ++i)
    REQUIRE(store.ask<write_result>(
      put_atom_v, set_request{"q:" + std::to_string(i), order(i, 0), 0, {}}));
  std::atomic<bool> stop{false};
  std::atomic<int> failed_writes{0}, writes{0};
  auto rewrite = [&](int stride) {
    for (int note = 1; !stop; ++note) {
      auto i = (note * stride) % n;
      if (!store.ask<write_result>(put_atom_v,
                                   set_request{"q:" + std::to_string(i),
                                               order(i, note), 0, {}}))
        ++failed_writes;
      ++writes;
    }
  };
  std::thread writer{rewrite, 7919}, other_writer{rewrite, 104729};
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  req.order_by = "deadline";
  req.limit = 10;
  req.with_values = true;
  std::vector<std::vector<std::string>> passes;
  for (int pass = 0; pass < 12; ++pass)
    passes.push_back(all_pages(store, req));
  stop = true;
  writer.join();
  other_writer.join();
  CHECK(failed_writes == 0);
  CHECK(writes > 100);
  std::vector<std::string> expect;
  for (int i = 0; i < n; ++i)
    expect.push_back("q:" + std::to_string(i));
  for (auto& keys : passes)
    CHECK(keys == expect);
}

namespace {

std::vector<std::string> pending_keys(shard_indexes& indexes,
                                      state_store& store) {
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  req.limit = 10'000;
  auto page = indexes.query(store, req, 1, 1 << 20);
  REQUIRE(page);
  std::vector<std::string> out;
  for (auto& item : page->items)
    out.push_back(item.key);
  return out;
}

} // namespace

TEST_CASE("a retry of unreadable values set before the system clock stepped "
          "back is due, not the step away") {
  damaged_store store{20};
  store.damaged = {"q:1003"};
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  CHECK(run_build(indexes, store) == 1);
  REQUIRE(indexes.unreadable_keys() == 1);
  unix_ms t = 10'000'000;
  CHECK(indexes.retry_unreadable(store, t) == false); // next: t + a minute
  CHECK_FALSE(indexes.unreadable_retry_due(t + 1));
  // The shard follows the system clock, which went back 90 minutes: the
  // retry is due now, rather than 90 minutes on.
  CHECK(indexes.unreadable_retry_due(t - 5'400'000));
  auto reads = store.batch_reads;
  CHECK(indexes.retry_unreadable(store, t - 5'400'000) == false);
  CHECK(store.batch_reads > reads);
  // And from there, a minute again.
  CHECK_FALSE(indexes.unreadable_retry_due(t - 5'400'000 + 1));
}

TEST_CASE("a build goes past values it cannot read: queries are answered, "
          "and those keys are indexed once they can be read") {
  size_t n = shard_indexes::build_chunk + 10;
  damaged_store store{n};
  store.damaged = {"q:1003", "q:1515"}; // one in each chunk
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  CHECK(run_build(indexes, store) == 2);
  CHECK_FALSE(indexes.building());
  CHECK(indexes.indexed_keys() == n - 2);
  CHECK(indexes.unreadable_keys() == 2);
  // Not whole: the next start reads every key instead of loading it.
  CHECK_FALSE(indexes.snapshot());
  auto found = pending_keys(indexes, store);
  CHECK(found.size() == n - 2);
  CHECK(std::find(found.begin(), found.end(), "q:1003") == found.end());
  // Read again at most once a retry interval, while still damaged...
  CHECK(indexes.retry_unreadable(store, 1) == false);
  CHECK(indexes.unreadable_keys() == 2);
  store.damaged.erase("q:1003");
  auto reads = store.batch_reads;
  CHECK(indexes.retry_unreadable(store, 2) == false);
  CHECK(store.batch_reads == reads); // too soon: nothing read
  CHECK(indexes.unreadable_keys() == 2);
  // ...and once it can be read, it is indexed.
  CHECK(indexes.retry_unreadable(store, 1 + shard_indexes::unreadable_retry_ms)
        == false);
  CHECK(indexes.unreadable_keys() == 1);
  CHECK(indexes.indexed_keys() == n - 1);
  // A write of the other tells the indexes what it holds.
  change_event ev;
  ev.key = "q:1515";
  ev.version = 99;
  ev.value = R"({"status":"pending"})";
  indexes.apply(ev);
  CHECK(indexes.unreadable_keys() == 0);
  CHECK(indexes.indexed_keys() == n);
  CHECK(indexes.snapshot());
}

TEST_CASE("keys whose read failed with the backend down are read again a "
          "second later, the wait doubling while it stays down, and a damaged "
          "value waits the full interval") {
  damaged_store store{20};
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  REQUIRE(run_build(indexes, store) == 1);
  // The first retry a second after the failure.
  store.put("q:1003", R"({"status":"filled"})"); // behind the indexes' back
  store.down = true;
  auto down = make_state_error(state_errc::backend_unavailable, "down");
  unix_ms t = 1'000'000;
  indexes.read_later("q:1003", down, t);
  indexes.read_later("elsewhere:1", down, t); // under no index: ignored
  CHECK(indexes.unreadable_keys() == 1);
  auto wait = shard_indexes::unreached_retry_ms;
  CHECK_FALSE(indexes.unreadable_retry_due(t + wait - 1));
  t += wait;
  // The failed read above waited a second; this retry's failure waits two.
  CHECK_FALSE(indexes.retry_unreadable(store, t)); // still down
  CHECK_FALSE(indexes.unreadable_retry_due(t + 2 * wait - 1));
  CHECK(indexes.unreadable_retry_due(t + 2 * wait));
  t += 2 * wait;
  CHECK_FALSE(indexes.retry_unreadable(store, t)); // down again: twice as long
  CHECK_FALSE(indexes.unreadable_retry_due(t + 4 * wait - 1));
  CHECK(indexes.unreadable_retry_due(t + 4 * wait));
  t += 4 * wait;
  store.down = false;
  REQUIRE(indexes.retry_unreadable(store, t));
  CHECK(indexes.unreadable_keys() == 0);
  CHECK(pending_keys(indexes, store).size() == 19);
  // One outage fails many reads at once: they do not lengthen the wait,
  // and once the backend is back the kept keys are read a chunk per tick.
  size_t many = shard_indexes::build_chunk + 20;
  for (size_t i = 0; i < many; ++i)
    store.put("q:" + std::to_string(5000 + i), R"({"status":"pending"})");
  store.down = true;
  for (size_t i = 0; i < many; ++i)
    indexes.read_later("q:" + std::to_string(5000 + i), down, t);
  CHECK(indexes.unreadable_keys() == many);
  CHECK_FALSE(indexes.unreadable_retry_due(t + wait - 1));
  CHECK(indexes.unreadable_retry_due(t + wait));
  t += wait;
  store.down = false;
  REQUIRE(indexes.retry_unreadable(store, t));
  CHECK(indexes.unreadable_keys() == 20); // one chunk read
  CHECK(indexes.unreadable_retry_due(t)); // the rest at the next tick
  REQUIRE(indexes.retry_unreadable(store, t));
  CHECK(indexes.unreadable_keys() == 0);
  CHECK(pending_keys(indexes, store).size() == 19 + many);
  // A damaged value is not the backend's absence: the next retry is the
  // full interval away.
  store.damaged = {"q:1004"};
  indexes.read_later("q:1004", make_value_error("key q:1004: damaged"), t);
  CHECK(indexes.unreadable_keys() == 1);
  CHECK_FALSE(indexes.unreadable_retry_due(t + 10 * wait));
  CHECK(indexes.unreadable_retry_due(t + shard_indexes::unreadable_retry_ms));
}

TEST_CASE("a build step fails, and keeps nothing as unreadable, while the "
          "backend is down") {
  damaged_store store{20};
  store.down = true;
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  auto step = indexes.build_step(store, 1);
  REQUIRE_FALSE(step);
  CHECK(code_of(step.error()) == state_errc::backend_unavailable);
  CHECK(indexes.building());
  CHECK(indexes.unreadable_keys() == 0);
  store.down = false;
  CHECK(run_build(indexes, store) == 1);
  CHECK(indexes.indexed_keys() == 20);
}

TEST_CASE("a query page leaves out a key whose value cannot be read now, "
          "and the indexes keep it") {
  damaged_store store{30};
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  run_build(indexes, store);
  REQUIRE(pending_keys(indexes, store).size() == 30);
  store.damaged = {"q:1007"};
  auto found = pending_keys(indexes, store);
  CHECK(found.size() == 29);
  CHECK(std::find(found.begin(), found.end(), "q:1007") == found.end());
  CHECK(indexes.indexed_keys() == 30);
  store.damaged.clear();
  CHECK(pending_keys(indexes, store).size() == 30);
  // An unavailable backend fails the query: it is not an empty page.
  store.down = true;
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  auto page = indexes.query(store, req, 1, 1 << 20);
  REQUIRE_FALSE(page);
  CHECK(code_of(page.error()) == state_errc::backend_unavailable);
  // So does a backend that refuses the reads (a backend_error that is no
  // value's): an error, not a page with every key left out.
  store.down = false;
  store.refusing = true;
  auto refused = indexes.query(store, req, 1, 1 << 20);
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::backend_error);
  CHECK(indexes.indexed_keys() == 30);
}

TEST_CASE("a build step reads about its byte budget of values, not a chunk of "
          "keys: large values are read a few at a time") {
  damaged_store store;
  constexpr int count = 20;
  std::string padding(512 << 10, 'p');
  for (int i = 0; i < count; ++i)
    store.put("q:" + std::to_string(1000 + i),
              R"({"status":"pending","pad":")" + padding + R"("})");
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  // 512 KiB values, 1 MiB a step: two or three values a step, never all.
  auto steps = run_build(indexes, store);
  CHECK(steps >= count / 3);
  CHECK(indexes.indexed_keys() == count);
}

namespace {

/// Every pending key, page by page within `budget` of values (a page of at
/// most `budget` plus one value); how many pages it took.
std::vector<std::string> page_pending(shard_indexes& indexes,
                                      state_store& store, bool with_values,
                                      size_t budget, int& pages) {
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  req.limit = 1000;
  req.with_values = with_values;
  std::vector<std::string> keys;
  for (pages = 1; pages < 100; ++pages) {
    auto page = indexes.query(store, req, 1, budget);
    REQUIRE(page);
    size_t bytes = 0;
    for (auto& item : page->items) {
      keys.push_back(item.key);
      bytes += item.value.size();
      CHECK(item.value.empty() != with_values);
    }
    if (!page->items.empty())
      CHECK(bytes - page->items.back().value.size() <= budget);
    if (page->next_cursor.empty())
      break;
    req.cursor = page->next_cursor;
  }
  return keys;
}

} // namespace

TEST_CASE("a query page reads values up to the reply budget at a time, with "
          "values or without, and paging returns every key once") {
  damaged_store store;
  constexpr int count = 20;
  std::vector<std::string> all;
  std::string padding(512 << 10, 'p');
  for (int i = 0; i < count; ++i) {
    all.push_back("q:" + std::to_string(1000 + i));
    store.put(all.back(), R"({"status":"pending","pad":")" + padding + R"("})");
  }
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  run_build(indexes, store);
  for (bool with_values : {false, true}) {
    INFO("with values: " << with_values);
    int pages = 0;
    CHECK(page_pending(indexes, store, with_values, 1 << 20, pages) == all);
    CHECK(pages >= count / 3);
    // A budget that holds them all: one page.
    CHECK(page_pending(indexes, store, with_values, 64 << 20, pages) == all);
    CHECK(pages == 1);
  }
  // The first keys found no longer match (written behind the indexes' back):
  // the page reads on past them rather than end empty.
  for (int i = 0; i < 3; ++i)
    store.put(all[i], R"({"status":"filled"})");
  query_request req;
  req.prefix = "q:";
  req.where = {where("status", query_op::eq, {str("pending")})};
  auto page = indexes.query(store, req, 1, 1 << 20);
  REQUIRE(page);
  REQUIRE_FALSE(page->items.empty());
  CHECK(page->items.front().key == all[3]);
  int pages = 0;
  CHECK(page_pending(indexes, store, false, 1 << 20, pages)
        == std::vector<std::string>(all.begin() + 3, all.end()));
}

TEST_CASE("unreadable keys are retried a chunk at a time from where the last "
          "retry stopped, so keys unreadable for good keep none from a retry") {
  size_t n = shard_indexes::build_chunk + 88;
  damaged_store store{n};
  for (size_t i = 0; i < n; ++i)
    store.damaged.insert("q:" + std::to_string(1000 + i));
  shard_indexes indexes{query_config("memory", 1).indexes, 0, 1, nullptr};
  run_build(indexes, store);
  REQUIRE(indexes.unreadable_keys() == n);
  REQUIRE(indexes.indexed_keys() == 0);
  // The last key comes back: the first retry reads the first chunk only,
  // the next one goes on past it.
  auto last = "q:" + std::to_string(1000 + n - 1);
  store.damaged.erase(last);
  unix_ms at = 1 + shard_indexes::unreadable_retry_ms;
  REQUIRE(indexes.retry_unreadable(store, at) == false);
  CHECK(indexes.indexed_keys() == 0);
  at += shard_indexes::unreadable_retry_ms;
  REQUIRE(indexes.retry_unreadable(store, at) == false);
  CHECK(indexes.indexed_keys() == 1);
  CHECK(indexes.unreadable_keys() == n - 1);
  // And round again from the start.
  store.damaged.erase("q:1000");
  at += shard_indexes::unreadable_retry_ms;
  REQUIRE(indexes.retry_unreadable(store, at) == false);
  CHECK(indexes.indexed_keys() == 2);
}

namespace {

/// One shard's file store under `dir` holding `n` pending orders q:1000...,
/// folded into value files and reopened, and the value file of q:1003
/// damaged: its first read moves it into quarantine.
struct file_with_damage {
  static constexpr size_t n = 20;
  temp_dir dir;
  state_config cfg = file_config_for(dir.path, 1);
  std::optional<opened_store> opened;

  file_with_damage() {
    cfg.file.cache_items = 0; // every read of a value reads its file
    {
      auto healthy = open_store(cfg);
      REQUIRE(healthy);
      for (size_t i = 0; i < n; ++i)
        REQUIRE(healthy->put("q:" + std::to_string(1000 + i),
                             R"({"status":"pending"})"));
      REQUIRE_FALSE(healthy->checkpoint_all());
    }
    auto reopened = open_store(cfg);
    REQUIRE(reopened);
    opened = std::move(*reopened);
  }

  state_store& store() { return *opened->stores.front(); }

  /// Flips a byte inside q:1003's value: its checksum no longer holds.
  void damage() {
    auto file = dir.sub("q/1003.val");
    REQUIRE(std::filesystem::exists(file));
    overwrite(file, value_header_bytes + 1, "\x7f");
  }
};

} // namespace

// A quarantined key is listed (so that exports and deletes by prefix meet
// it), and the build then read it, kept it as unreadable, read it again
// every minute, and wrote no snapshot while it was kept: every start rebuilt
// the indexes from the values for one damaged file, which no start can read
// again (only a write or a delete of the key clears the quarantine).
TEST_CASE("a build reads a value in quarantine as absent: nothing is kept to "
          "read again, and the snapshot is written") {
  file_with_damage f;
  f.damage();
  SECTION("quarantined by an earlier read") {
    REQUIRE_FALSE(f.store().get("q:1003", 1));
    REQUIRE(f.store().stats().quarantined == 1);
  }
  SECTION("quarantined by the build's own read") {
  }
  shard_indexes indexes{query_config("file", 1).indexes, 0, 1, nullptr};
  run_build(indexes, f.store());
  CHECK(f.store().stats().quarantined == 1);
  CHECK(indexes.indexed_keys() == f.n - 1);
  CHECK(indexes.unreadable_keys() == 0);
  CHECK_FALSE(indexes.has_unreadable());
  auto snapshot = indexes.snapshot();
  REQUIRE(snapshot);
  shard_indexes loaded{query_config("file", 1).indexes, 0, 1, nullptr};
  REQUIRE_FALSE(loaded.load(*snapshot));
  CHECK_FALSE(loaded.building());
  auto found = pending_keys(loaded, f.store());
  CHECK(found.size() == f.n - 1);
  CHECK(std::find(found.begin(), found.end(), "q:1003") == found.end());
  // Written again, it is indexed as any write is.
  change_event ev;
  ev.key = "q:1003";
  ev.version = 99;
  ev.value = R"({"status":"pending"})";
  loaded.apply(ev);
  CHECK(loaded.indexed_keys() == f.n);
}

TEST_CASE("a query page that meets a value in quarantine leaves it out, and "
          "the indexes drop it") {
  file_with_damage f;
  shard_indexes indexes{query_config("file", 1).indexes, 0, 1, nullptr};
  run_build(indexes, f.store());
  REQUIRE(indexes.indexed_keys() == f.n);
  f.damage(); // after the build: the page's read quarantines it
  auto found = pending_keys(indexes, f.store());
  CHECK(found.size() == f.n - 1);
  CHECK(std::find(found.begin(), found.end(), "q:1003") == found.end());
  CHECK(f.store().stats().quarantined == 1);
  // Not held for a value it will not have until written: the snapshot
  // has no entry for it.
  CHECK(indexes.indexed_keys() == f.n - 1);
  CHECK_FALSE(indexes.has_unreadable());
  CHECK(indexes.snapshot());
}
