// Watches in process: the history's bounds, every change of a key in commit
// order on the memory and file backends (expiries included), resuming from
// a position, a stalled watcher told to resync and dropped while the hub's
// memory stays bounded, and subscriptions ending with their watcher.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <optional>

#include "actors/watch/change_recorder.hpp"
#include "actors/watch/history.hpp"
#include "backends/state_store.hpp"
#include "tests/support/file_test_support.hpp"
#include "tests/support/key_files.hpp"
#include "tests/support/running_store.hpp"
#include "tests/support/watch_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

change_event change(const std::string& key, const std::string& value = "v") {
  change_event ev;
  ev.key = key;
  ev.value = value;
  ev.version = 1;
  return ev;
}

state_config memory_config(size_t shards = 4) {
  state_config sc;
  sc.type = "memory";
  sc.shards = shards;
  sc.max_items = 0;
  sc.sweep_interval = 50ms;
  return sc;
}

/// The value of a metric line `name` in the store's /metrics text.
double metric(running_store& store, const std::string& name) {
  caf::scoped_actor self{*store.sys};
  std::string text;
  self->request(store.handles.metrics, 10s, render_atom_v)
    .receive([&](std::string& t) { text = std::move(t); },
             [&](caf::error&) {});
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

} // namespace

TEST_CASE("the history seals changes into chunks and drops the oldest "
          "chunks past its bounds") {
  change_history h{7, 600, 1u << 30};
  CHECK(h.last() == 0);
  CHECK(h.first() == 1);
  for (size_t i = 0; i < max_chunk_events; ++i)
    h.append(change("a:" + std::to_string(i)));
  // A full chunk seals itself.
  CHECK(h.last_sealed() == max_chunk_events);
  for (int i = 0; i < 100; ++i)
    h.append(change("b:" + std::to_string(i)));
  CHECK(h.last() == 612);
  CHECK(h.chunk_of(513) == nullptr); // still open: not for watchers yet
  h.seal();
  auto* second = h.chunk_of(600);
  REQUIRE(second != nullptr);
  CHECK(second->first == 513);
  CHECK(second->last == 612);
  CHECK(second->batch().stream == 7);
  CHECK(second->batch().events.size() == 100);
  CHECK(h.chunk_of(1)->last == 512);
  for (size_t i = 0; i < max_chunk_events; ++i)
    h.append(change("c:" + std::to_string(i)));
  std::vector<uint64_t> dropped;
  h.trim([&](const change_event& ev) { dropped.push_back(ev.seq); });
  // 1124 changes, at most 600: whole chunks go, oldest first.
  CHECK(dropped.size() == 612);
  CHECK(dropped.front() == 1);
  CHECK(dropped.back() == 612);
  CHECK(h.first() == 613);
  CHECK(h.size() == 512);
  CHECK(h.chunk_of(600) == nullptr);
}

TEST_CASE("the history's byte bound drops chunks too") {
  change_history h{1, 1000, 3 * (sizeof(change_event) + 101)};
  for (int i = 0; i < 10; ++i) {
    h.append(change("k:" + std::to_string(i), std::string(98, 'x')));
    h.seal();
  }
  size_t dropped = 0;
  h.trim([&](const change_event&) { ++dropped; });
  CHECK(dropped == 7);
  CHECK(h.bytes() <= 3 * (sizeof(change_event) + 101));
  CHECK(h.first() == 8);
}

TEST_CASE("the recorder tracks the expiry of the last write of each key "
          "only") {
  change_recorder r{true};
  r.put("k:a", 1, "1", 100);
  r.put("k:a", 2, "2", 200); // rewritten: expires at 200, not 100
  r.put("k:b", 3, "3", 150);
  r.erase("k:b");            // deleted: never expires
  r.put("k:c", 4, "4", 0);   // no TTL
  CHECK(r.tracked() == 1);
  r.take();
  CHECK_FALSE(r.expire_due(150, 10));
  CHECK(r.empty());
  CHECK_FALSE(r.expire_due(200, 10));
  auto events = r.take();
  REQUIRE(events.size() == 1);
  CHECK(events[0].key == "k:a");
  CHECK(events[0].why() == change_cause::expire);
  CHECK(r.tracked() == 0);
}

TEST_CASE("the recorder stages expiries a bounded chunk at a time, tracks "
          "only the keys it owns, and follows what a read found") {
  change_recorder r{true, [](std::string_view key) {
                      return key.substr(0, 4) == "own:";
                    }};
  for (int i = 0; i < 5; ++i)
    r.put("own:" + std::to_string(i), 1, "v", 100 + i);
  r.put("other:1", 2, "v", 100); // written here for its owner: not tracked
  CHECK(r.tracked() == 5);
  r.take();
  CHECK(r.expire_due(200, 2)); // more are due
  CHECK(r.take().size() == 2);
  CHECK_FALSE(r.expire_due(200, 3));
  auto rest = r.take();
  REQUIRE(rest.size() == 3);
  CHECK(rest.back().key == "own:4");
  // A read after another shard's write: the expiry it found, or none.
  r.put("own:a", 3, "v", 300);
  r.put("own:b", 4, "v", 300);
  r.take();
  r.follow_expiry("own:a", 0);   // its TTL was taken off
  r.follow_expiry("own:b", 500); // written again with a longer one
  r.follow_expiry("other:2", 400);
  CHECK(r.tracked() == 1);
  CHECK_FALSE(r.expire_due(450, 10));
  CHECK(r.empty());
  r.expire_due(500, 10);
  auto late = r.take();
  REQUIRE(late.size() == 1);
  CHECK(late[0].key == "own:b");
  // A key due but left past the bound, then written: its expire event
  // comes first, not never.
  r.put("own:x", 5, "v", 600);
  r.put("own:y", 6, "v", 601);
  r.take();
  CHECK(r.expire_due(700, 1)); // own:x staged, own:y left for later
  r.put("own:y", 7, "again", 0);
  r.erase("own:x"); // staged already: nothing more of its expiry
  auto order = r.take();
  REQUIRE(order.size() == 4);
  CHECK(order[0].key == "own:x");
  CHECK(order[0].why() == change_cause::expire);
  CHECK(order[1].key == "own:y");
  CHECK(order[1].why() == change_cause::expire);
  CHECK(order[2].why() == change_cause::put);
  CHECK(order[3].why() == change_cause::del);
  CHECK(r.tracked() == 0);
}

TEST_CASE("a memory store's watcher gets every change of its prefix in "
          "order, expiries included") {
  running_store store{memory_config()};
  check_watch_changes(store);
}

TEST_CASE("a file store's watcher gets every change of its prefix in "
          "order, expiries included") {
  temp_dir dir;
  auto cfg = file_config_for(dir.path, 2);
  cfg.sweep_interval = 50ms;
  running_store store{cfg};
  check_watch_changes(store);
}

TEST_CASE("a rotation's re-encryption reaches a file store's watcher: every "
          "key moved, at the version a get answers, with the same value") {
  temp_dir dir;
  key_files keys;
  auto k1 = keys.hex_key("k1");
  auto k2 = keys.hex_key("k2");
  auto cfg = file_config_for(dir.path, 2);
  cfg.encryption.keys = {k1};
  cfg.encryption.primary = "k1";
  constexpr int n = 300; // more than one chunk of the walk
  auto key_of = [](int i) { return "w:r:" + std::to_string(i); };
  std::map<std::string, version_t> before;
  {
    running_store store{cfg};
    for (int i = 0; i < n; ++i) {
      auto r = store.ask<write_result>(
        put_atom_v, set_request{key_of(i), "value " + std::to_string(i), 0, {}});
      REQUIRE(r);
      before[key_of(i)] = r->version;
    }
  }
  // k2 the primary, k1 still listed: the walk moves every value to k2. It
  // starts at the first tick, after the watch below is on.
  cfg.encryption.keys = {k1, k2};
  cfg.encryption.primary = "k2";
  cfg.sweep_interval = 1s;
  running_store store{cfg};
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, log,
                            watch_request{"w:r:", false, 0, 0});
  REQUIRE(started);
  REQUIRE(log->wait_events(n));
  std::this_thread::sleep_for(200ms); // and no more than one each
  auto events = log->snapshot();
  CHECK(events.size() == n);
  std::map<std::string, const change_event*> last;
  for (auto& ev : events) {
    CHECK(ev.why() == change_cause::put);
    last[ev.key] = &ev;
  }
  REQUIRE(last.size() == n);
  for (int i = 0; i < n; ++i) {
    auto& ev = *last.at(key_of(i));
    INFO(key_of(i));
    CHECK(ev.value == "value " + std::to_string(i));
    CHECK(ev.version != before.at(key_of(i)));
    auto now = store.ask<entry>(get_atom_v, key_of(i));
    REQUIRE(now);
    CHECK(now->version == ev.version);
  }
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("a coordinated transaction over several shards is seen whole") {
  running_store store{memory_config(8)};
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, log,
                            watch_request{"acct:", false, 0, 0});
  REQUIRE(started);
  transaction_request txn;
  for (int i = 0; i < 16; ++i)
    txn.ops.push_back(txn_op::put("acct:" + std::to_string(i), "100"));
  REQUIRE(store.ask<transaction_reply>(transact_atom_v, txn));
  REQUIRE(log->wait_events(16));
  CHECK(log->snapshot().size() == 16);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("a transaction over several shards reaches the watcher in one "
          "piece while other keys are written") {
  // Each shard sent its own part once told to keep it: writes of other
  // shards came in between (3 to 19 of 200 transactions split).
  running_store store{memory_config(4)};
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, log,
                            watch_request{"x", false, 0, 0});
  REQUIRE(started);
  std::atomic<bool> done{false};
  std::atomic<size_t> other_writes{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; !done; ++i)
        if (store.ask<write_result>(
              put_atom_v, set_request{"xn:" + std::to_string(t) + ":"
                                        + std::to_string(i % 64),
                                      "n", 0, {}}))
          ++other_writes;
    });
  constexpr int transactions = 200;
  for (int i = 0; i < transactions; ++i) {
    transaction_request txn;
    for (int k = 0; k < 4; ++k)
      txn.ops.push_back(txn_op::put("xa:" + std::to_string(4 * i + k), "t"));
    REQUIRE(store.ask<transaction_reply>(transact_atom_v, txn));
  }
  done = true;
  for (auto& t : writers)
    t.join();
  CHECK(other_writes > 0);
  REQUIRE(log->wait_events(4 * transactions + other_writes, 30s));
  // The sequence numbers of each transaction's four changes.
  std::map<int, std::vector<uint64_t>> seqs;
  for (auto& ev : log->snapshot())
    if (ev.key.rfind("xa:", 0) == 0)
      seqs[std::stoi(ev.key.substr(3)) / 4].push_back(ev.seq);
  REQUIRE(seqs.size() == transactions);
  int split = 0;
  for (auto& [txn, s] : seqs) {
    REQUIRE(s.size() == 4);
    std::sort(s.begin(), s.end());
    if (s.back() - s.front() != 3)
      ++split;
  }
  CHECK(split == 0);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("after a gap upstream a watcher resumes without a resync from "
          "where a stream started after the gap, and with one from before") {
  // A gap's position was the last change's, so a stream that started after
  // it (no change since) gave that same position, and every reconnect from
  // there was told to resync though it had missed nothing.
  running_store store{memory_config(1)};
  auto put = [&](const std::string& key) {
    REQUIRE(store.ask<write_result>(put_atom_v, set_request{key, key, 0, {}}));
  };
  put("g:1");
  auto before = std::make_shared<watch_log>();
  auto [w0, s0] = watch(*store.sys, store.handles.hub, before,
                        watch_request{"g:", false, 0, 0});
  REQUIRE(s0);
  caf::anon_send(store.handles.hub, resync_atom_v,
                 std::string{"lost upstream"}, false);
  REQUIRE(before->wait_for([&] { return !before->resyncs.empty(); }));
  auto after = std::make_shared<watch_log>();
  auto [w1, s1] = watch(*store.sys, store.handles.hub, after,
                        watch_request{"g:", false, 0, 0});
  REQUIRE(s1);
  CHECK(s1->position > s0->position);
  put("g:2");
  auto from_after = std::make_shared<watch_log>();
  auto [w2, s2] = watch(*store.sys, store.handles.hub, from_after,
                        watch_request{"g:", true, s1->stream, s1->position});
  REQUIRE(s2);
  CHECK_FALSE(s2->resync);
  REQUIRE(from_after->wait_events(1));
  CHECK(from_after->snapshot().front().key == "g:2");
  CHECK(from_after->resyncs.empty());
  auto from_before = std::make_shared<watch_log>();
  auto [w3, s3] = watch(*store.sys, store.handles.hub, from_before,
                        watch_request{"g:", true, s0->stream, s0->position});
  REQUIRE(s3);
  CHECK(s3->resync);
  // The watchers subscribed across the gap go on with the changes.
  REQUIRE(before->wait_events(1));
  CHECK(before->snapshot().front().key == "g:2");
  for (auto& w : {w0, w1, w2, w3})
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("a watcher resumes after a position the history holds, and is "
          "told to resync when it does not") {
  auto cfg = memory_config();
  cfg.watch.history_events = 20;
  running_store store{cfg};
  auto put = [&](const std::string& key) {
    REQUIRE(store.ask<write_result>(put_atom_v, set_request{key, key, 0, {}}));
  };
  auto first = std::make_shared<watch_log>();
  auto [w1, s1] = watch(*store.sys, store.handles.hub, first,
                        watch_request{"r:", false, 0, 0});
  REQUIRE(s1);
  put("r:1");
  put("r:2");
  REQUIRE(first->wait_events(2));
  auto seen = first->snapshot().back().seq;
  caf::anon_send_exit(w1, caf::exit_reason::user_shutdown);
  put("r:3");
  put("r:4");

  SECTION("from the last position seen: exactly the changes missed") {
    auto again = std::make_shared<watch_log>();
    auto [w2, s2] = watch(*store.sys, store.handles.hub, again,
                          watch_request{"r:", true, s1->stream, seen});
    REQUIRE(s2);
    CHECK_FALSE(s2->resync);
    CHECK(s2->position == seen);
    REQUIRE(again->wait_events(2));
    std::this_thread::sleep_for(100ms);
    auto events = again->snapshot();
    REQUIRE(events.size() == 2);
    // Two shards' changes: the hub orders each key's, not one shard's
    // against another's (their messages race).
    std::set<std::string> keys{events[0].key, events[1].key};
    CHECK(keys == std::set<std::string>{"r:3", "r:4"});
    caf::anon_send_exit(w2, caf::exit_reason::user_shutdown);
  }
  SECTION("from a position the history no longer holds") {
    for (int i = 0; i < 40; ++i)
      put("x:" + std::to_string(i));
    auto late = std::make_shared<watch_log>();
    auto [w3, s3] = watch(*store.sys, store.handles.hub, late,
                          watch_request{"r:", true, s1->stream, seen});
    REQUIRE(s3);
    CHECK(s3->resync);
    // The watcher itself is told, not only the one that asked.
    REQUIRE(late->wait_for([&] { return !late->resyncs.empty(); }));
    put("r:5");
    REQUIRE(late->wait_events(1));
    CHECK(late->snapshot().front().key == "r:5");
    std::lock_guard<std::mutex> lock{late->mx};
    CHECK(late->resyncs.size() == 1);
    CHECK_FALSE(late->dropped);
    caf::anon_send_exit(w3, caf::exit_reason::user_shutdown);
  }
  SECTION("from another stream (a restarted node)") {
    auto other = std::make_shared<watch_log>();
    auto [w4, s4] = watch(*store.sys, store.handles.hub, other,
                          watch_request{"r:", true, s1->stream + 1, seen});
    REQUIRE(s4);
    CHECK(s4->resync);
    REQUIRE(other->wait_for([&] { return !other->resyncs.empty(); }));
    caf::anon_send_exit(w4, caf::exit_reason::user_shutdown);
  }
}

TEST_CASE("a watcher that resumes from before changes were lost upstream is "
          "told to resync, and one that resumes after the gap is not") {
  running_store store{memory_config()};
  auto put = [&](const std::string& key) {
    REQUIRE(store.ask<write_result>(put_atom_v, set_request{key, key, 0, {}}));
  };
  auto live = std::make_shared<watch_log>();
  auto [w0, s0] = watch(*store.sys, store.handles.hub, live,
                        watch_request{"r:", false, 0, 0});
  REQUIRE(s0);
  put("r:1");
  put("r:2");
  REQUIRE(live->wait_events(2));
  auto before_gap = live->snapshot().back().seq;
  // What the engine's feed sends when it comes back after a loss.
  caf::anon_send(store.handles.hub, resync_atom_v,
                 std::string{"the change feed was lost for a while"}, false);
  REQUIRE(live->wait_for([&] { return !live->resyncs.empty(); }));
  put("r:3");
  REQUIRE(live->wait_events(3));
  auto after_gap = live->snapshot().back().seq;

  auto early = std::make_shared<watch_log>();
  auto [w1, s1] = watch(*store.sys, store.handles.hub, early,
                        watch_request{"r:", true, s0->stream, before_gap});
  REQUIRE(s1);
  CHECK(s1->resync);
  CHECK(early->wait_for([&] { return !early->resyncs.empty(); }));

  auto late = std::make_shared<watch_log>();
  auto [w2, s2] = watch(*store.sys, store.handles.hub, late,
                        watch_request{"r:", true, s0->stream, after_gap});
  REQUIRE(s2);
  CHECK_FALSE(s2->resync);
  put("r:4");
  REQUIRE(late->wait_events(1));
  {
    std::lock_guard<std::mutex> lock{late->mx};
    CHECK(late->resyncs.empty());
    CHECK(late->events.front().key == "r:4");
  }
  for (auto& w : {w0, w1, w2})
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("a resync from upstream is not followed by the changes from "
          "before it") {
  running_store store{memory_config()};
  auto live = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, live,
                            watch_request{"r:", false, 0, 0});
  REQUIRE(started);
  // One read of the engine's feed: a change handed on, then the resync
  // for one it could not decode, before the hub's next delivery round.
  caf::anon_send(store.handles.hub, changes_atom_v,
                 std::vector<change_event>{change("r:old", "v1")});
  caf::anon_send(store.handles.hub, resync_atom_v,
                 std::string{"1 changes of the feed could not be decoded"},
                 false);
  REQUIRE(live->wait_for([&] { return !live->resyncs.empty(); }));
  caf::anon_send(store.handles.hub, changes_atom_v,
                 std::vector<change_event>{change("r:new", "v2")});
  REQUIRE(live->wait_for([&] {
    return !live->events.empty() && live->events.back().key == "r:new";
  }));
  // A client reads the state again on resync: r:old arriving after it
  // would overwrite what it read with an older value. Before it (a
  // delivery round between the two) is fine.
  std::lock_guard<std::mutex> lock{live->mx};
  for (size_t i = live->events_before_resync.at(0); i < live->events.size();
       ++i)
    CHECK(live->events[i].key != "r:old");
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

namespace {

/// A watcher that takes its first batch and never returns from it (it
/// holds the hub's request unanswered), as a stalled consumer would.
struct stalled_state {
  caf::response_promise held;
};

watcher_actor::behavior_type
stalled_watcher(watcher_actor::stateful_pointer<stalled_state> self,
                std::shared_ptr<watch_log> log) {
  return {
    [self](const change_batch&) -> caf::result<void> {
      self->state.held = self->make_response_promise();
      return caf::delegated<void>{};
    },
    [log](resync_atom, const std::string& why, bool dropped) {
      std::lock_guard<std::mutex> lock{log->mx};
      log->resyncs.push_back(why);
      log->dropped = dropped;
      log->cv.notify_all();
    },
  };
}

} // namespace

TEST_CASE("a stalled watcher is told to resync and dropped, while the history "
          "stays within its bounds and a live watcher gets everything") {
  auto cfg = memory_config(2);
  cfg.watch.history_events = 500;
  cfg.watch.history_bytes = 256u << 10;
  running_store store{cfg};
  auto stalled_log = std::make_shared<watch_log>();
  auto stalled = store.sys->spawn(stalled_watcher, stalled_log);
  {
    caf::scoped_actor self{*store.sys};
    bool ok = false;
    self->request(store.handles.hub, 10s, watch_atom_v,
                  watch_request{"s:", false, 0, 0}, stalled)
      .receive([&](watch_started&) { ok = true; }, [&](caf::error&) {});
    REQUIRE(ok);
  }
  auto live = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, live,
                            watch_request{"s:", false, 0, 0});
  REQUIRE(started);
  // 4 MiB of values through a history of 256 KiB.
  std::string value(2048, 'v');
  for (int i = 0; i < 2000; ++i)
    REQUIRE(store.ask<write_result>(
      put_atom_v, set_request{"s:" + std::to_string(i % 50), value, 0, {}}));
  REQUIRE(stalled_log->wait_for([&] { return stalled_log->dropped; }));
  CHECK(stalled_log->resyncs.size() == 1);
  CHECK(stalled_log->resyncs.front().find("fell behind") != std::string::npos);
  REQUIRE(live->wait_events(2000));
  CHECK(live->resyncs.empty());
  // The hub reports once a second: sizes within the bounds, one watcher
  // left, one resync counted.
  std::this_thread::sleep_for(1500ms);
  CHECK(metric(store, "solver_state_watch_history_bytes") <= 256 << 10);
  CHECK(metric(store, "solver_state_watch_history_events") <= 500);
  CHECK(metric(store, "solver_state_watchers") == 1);
  CHECK(metric(store, "solver_state_watch_resyncs_total") == 1);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(stalled, caf::exit_reason::user_shutdown);
}

TEST_CASE("watchers are bounded by max_watchers and leave with their "
          "actor") {
  auto cfg = memory_config(1);
  cfg.watch.max_watchers = 2;
  running_store store{cfg};
  auto a = watch(*store.sys, store.handles.hub, std::make_shared<watch_log>(),
                 watch_request{"", false, 0, 0});
  auto b = watch(*store.sys, store.handles.hub, std::make_shared<watch_log>(),
                 watch_request{"", false, 0, 0});
  REQUIRE(a.second);
  REQUIRE(b.second);
  auto c = watch(*store.sys, store.handles.hub, std::make_shared<watch_log>(),
                 watch_request{"", false, 0, 0});
  REQUIRE_FALSE(c.second);
  CHECK(code_of(c.second.error()) == state_errc::capacity_exceeded);
  CHECK(message_of(c.second.error()).find("max_watchers") != std::string::npos);
  caf::anon_send_exit(a.first, caf::exit_reason::user_shutdown);
  // The hub learns of the exit by its monitor: the slot frees shortly.
  bool admitted = false;
  for (int i = 0; i < 100 && !admitted; ++i) {
    auto d = watch(*store.sys, store.handles.hub,
                   std::make_shared<watch_log>(),
                   watch_request{"", false, 0, 0});
    admitted = static_cast<bool>(d.second);
    if (admitted)
      caf::anon_send_exit(d.first, caf::exit_reason::user_shutdown);
    else
      std::this_thread::sleep_for(20ms);
  }
  CHECK(admitted);
  caf::anon_send_exit(b.first, caf::exit_reason::user_shutdown);
}

TEST_CASE("a burst of more changes than the history holds, all between two "
          "rounds, still reaches a watcher that keeps up") {
  auto cfg = memory_config();
  cfg.watch.history_events = 20;
  running_store store{cfg};
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, log,
                            watch_request{"b:", false, 0, 0});
  REQUIRE(started);
  // One shard's changes of one batch: 30 of them, in one message, so one
  // chunk the history is too small for.
  std::vector<change_event> burst;
  for (int i = 0; i < 30; ++i) {
    change_event ev;
    ev.key = "b:" + std::to_string(i);
    ev.version = static_cast<version_t>(i + 1);
    ev.value = "v";
    burst.push_back(std::move(ev));
  }
  caf::anon_send(store.handles.hub, changes_atom_v, std::move(burst));
  REQUIRE(log->wait_events(30));
  CHECK(log->resyncs.empty());
  CHECK(log->snapshot().back().key == "b:29");
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("a watcher that subscribes again to the same prefix gets each "
          "change once") {
  // A cluster front's relay subscribes again when its request timed out,
  // while the first subscription may have gone through.
  running_store store{memory_config(1)};
  auto log = std::make_shared<watch_log>();
  auto w = store.sys->spawn(log_watcher, log);
  for (int i = 0; i < 2; ++i) {
    caf::scoped_actor self{*store.sys};
    bool started = false;
    self
      ->request(store.handles.hub, 10s, watch_atom_v,
                watch_request{"d:", false, 0, 0}, w)
      .receive([&](watch_started&) { started = true; },
               [](caf::error&) {});
    REQUIRE(started);
  }
  REQUIRE(store.ask<write_result>(put_atom_v,
                                  set_request{"d:1", "v", 0, {}}));
  REQUIRE(store.ask<write_result>(put_atom_v,
                                  set_request{"d:2", "v", 0, {}}));
  REQUIRE(log->wait_events(2));
  std::this_thread::sleep_for(200ms); // a second copy would be on its way
  CHECK(log->snapshot().size() == 2);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

namespace {

/// A watcher that logs every batch and holds the first one (the hub's
/// request unanswered) until the test releases it, as a watcher busy with a
/// batch would.
struct gate {
  std::mutex mx;
  std::optional<caf::response_promise> held;
  bool first_taken = false;
};

watcher_actor::behavior_type
gated_watcher(watcher_actor::pointer self, std::shared_ptr<watch_log> log,
              std::shared_ptr<gate> g) {
  return {
    [self, log, g](const change_batch& batch) -> caf::result<void> {
      {
        std::lock_guard<std::mutex> lock{log->mx};
        for (auto& ev : batch.events)
          log->events.push_back(ev);
        log->cv.notify_all();
      }
      std::lock_guard<std::mutex> lock{g->mx};
      if (g->first_taken)
        return caf::unit;
      g->first_taken = true;
      g->held = self->make_response_promise();
      return caf::delegated<void>{};
    },
    [log](resync_atom, const std::string& why, bool) {
      std::lock_guard<std::mutex> lock{log->mx};
      log->resyncs.push_back(why);
      log->cv.notify_all();
    },
  };
}

} // namespace

TEST_CASE("a watcher that subscribes again while busy with a batch misses "
          "no change") {
  // The new subscription started from "now": a change the old one had not
  // been handed yet (its watcher busy) was skipped, with no resync.
  running_store store{memory_config(1)};
  auto log = std::make_shared<watch_log>();
  auto g = std::make_shared<gate>();
  auto w = store.sys->spawn(gated_watcher, log, g);
  auto subscribe = [&] {
    caf::scoped_actor self{*store.sys};
    bool started = false;
    self
      ->request(store.handles.hub, 10s, watch_atom_v,
                watch_request{"d:", false, 0, 0}, w)
      .receive([&](watch_started&) { started = true; }, [](caf::error&) {});
    return started;
  };
  REQUIRE(subscribe());
  auto live = std::make_shared<watch_log>();
  auto [lw, started] = watch(*store.sys, store.handles.hub, live,
                             watch_request{"d:", false, 0, 0});
  REQUIRE(started);
  REQUIRE(store.ask<write_result>(put_atom_v, set_request{"d:1", "v", 0, {}}));
  REQUIRE(log->wait_events(1)); // taken and held
  REQUIRE(store.ask<write_result>(put_atom_v, set_request{"d:2", "v", 0, {}}));
  REQUIRE(live->wait_events(2)); // numbered, not handed to the busy one
  REQUIRE(subscribe());
  {
    std::lock_guard<std::mutex> lock{g->mx};
    REQUIRE(g->held);
    g->held->deliver(caf::unit);
  }
  REQUIRE(store.ask<write_result>(put_atom_v, set_request{"d:3", "v", 0, {}}));
  REQUIRE(live->wait_events(3));
  REQUIRE(log->wait_for([&] {
    return !log->resyncs.empty()
           || (!log->events.empty() && log->events.back().key == "d:3");
  }));
  std::this_thread::sleep_for(200ms); // a copy would be on its way
  std::vector<std::string> keys;
  for (auto& ev : log->snapshot())
    keys.push_back(ev.key);
  CHECK(log->resyncs.empty());
  CHECK(keys == std::vector<std::string>{"d:1", "d:2", "d:3"});
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(lw, caf::exit_reason::user_shutdown);
}

namespace {

/// A watcher that refuses every batch (a bug in a solver's watcher, or a
/// relay whose cluster hub answered an error), and logs what it is told.
watcher_actor::behavior_type
refusing_watcher(watcher_actor::pointer, std::shared_ptr<watch_log> log) {
  return {
    [](const change_batch&) -> caf::result<void> {
      return make_state_error(state_errc::backend_error, "refused");
    },
    [log](resync_atom, const std::string& why, bool dropped) {
      std::lock_guard<std::mutex> lock{log->mx};
      log->resyncs.push_back(why);
      log->dropped = log->dropped || dropped;
      log->cv.notify_all();
    },
  };
}

} // namespace

TEST_CASE("a watcher that refuses a batch is told it was dropped") {
  running_store store{memory_config(1)};
  auto log = std::make_shared<watch_log>();
  auto w = store.sys->spawn(refusing_watcher, log);
  caf::scoped_actor self{*store.sys};
  bool started = false;
  self
    ->request(store.handles.hub, 10s, watch_atom_v,
              watch_request{"r:", false, 0, 0}, w)
    .receive([&](watch_started&) { started = true; }, [](caf::error&) {});
  REQUIRE(started);
  REQUIRE(store.ask<write_result>(put_atom_v,
                                  set_request{"r:1", "v", 0, {}}));
  CHECK(log->wait_for([&] { return log->dropped; }, 5s));
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}
