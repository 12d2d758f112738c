#pragma once

// A watcher for tests: a typed watcher_actor that appends every change and
// resync it gets to a shared log, and waits on that log from the test
// thread; plus the checks every backend's watches must pass
// (check_watch_changes), run on a running_store of that backend.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <catch2/catch.hpp>

#include "messages/interfaces.hpp"
#include "tests/support/running_store.hpp"

namespace solver_state::testing {

/// What a test watcher has received.
struct watch_log {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<change_event> events;
  std::vector<std::string> resyncs;
  /// For each resync, how many changes had come before it.
  std::vector<size_t> events_before_resync;
  bool dropped = false;
  uint64_t stream = 0;
  size_t batches = 0;

  /// Waits up to `limit` for `done()` (called under the lock).
  bool wait_for(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds{10}) {
    std::unique_lock<std::mutex> lock{mx};
    return cv.wait_for(lock, limit, done);
  }

  bool wait_events(size_t n, std::chrono::milliseconds limit
                               = std::chrono::seconds{10}) {
    return wait_for([&] { return events.size() >= n; }, limit);
  }

  std::vector<change_event> snapshot() {
    std::lock_guard<std::mutex> lock{mx};
    return events;
  }
};

inline watcher_actor::behavior_type
log_watcher(watcher_actor::pointer, std::shared_ptr<watch_log> log) {
  return {
    [log](const change_batch& batch) {
      std::lock_guard<std::mutex> lock{log->mx};
      log->stream = batch.stream;
      ++log->batches;
      for (auto& ev : batch.events)
        log->events.push_back(ev);
      log->cv.notify_all();
    },
    [log](resync_atom, const std::string& why, bool dropped) {
      std::lock_guard<std::mutex> lock{log->mx};
      log->resyncs.push_back(why);
      log->events_before_resync.push_back(log->events.size());
      log->dropped = log->dropped || dropped;
      log->cv.notify_all();
    },
  };
}

/// Spawns a logging watcher and subscribes it to `hub`.
inline std::pair<watcher_actor, caf::expected<watch_started>>
watch(caf::actor_system& sys, const watch_hub_actor& hub,
      std::shared_ptr<watch_log> log, watch_request req) {
  auto w = sys.spawn(log_watcher, log);
  caf::scoped_actor self{sys};
  caf::expected<watch_started> started{caf::error{}};
  self->request(hub, std::chrono::seconds{10}, watch_atom_v, std::move(req), w)
    .receive([&](watch_started& s) { started = s; },
             [&](caf::error& err) { started = std::move(err); });
  return {w, started};
}

inline std::string cause_of(const change_event& ev) {
  return to_string(ev.why());
}

/// The changes of `key` in `events`, as "cause:value".
inline std::vector<std::string> history_of(const std::vector<change_event>& events,
                                           const std::string& key) {
  std::vector<std::string> out;
  for (auto& ev : events)
    if (ev.key == key)
      out.push_back(cause_of(ev) + ":" + ev.value);
  return out;
}

/// Puts, deletes, a delete by prefix and a transaction under "w:" (and a
/// put outside it) on
/// `store` (the transaction's keys share the placement group {t}, so every
/// backend runs it on one shard): the watcher of "w:" gets each change of its keys, in order,
/// with the versions the writes answered, and none of the other key; a key
/// written with a short TTL expires as an event within a few sweeps.
/// Without `transactions` (DynamoDB), the transaction's two writes are made
/// one by one.
inline void check_watch_changes(running_store& store,
                                bool transactions = true) {
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, log,
                            watch_request{"w:", false, 0, 0});
  REQUIRE(started);
  auto put = [&](const std::string& key, const std::string& value,
                 int64_t ttl_ms = 0) {
    auto r = store.ask<write_result>(put_atom_v,
                                     set_request{key, value, ttl_ms, {}});
    REQUIRE(r);
    return r->version;
  };
  auto v1 = put("w:a", "1");
  put("other:a", "x");
  auto v2 = put("w:a", "2");
  auto vb = put("w:{t}b", "b1");
  REQUIRE(store.ask<bool>(delete_atom_v, delete_request{"w:a", {}}));
  // Deleting an absent key changes nothing: no event.
  REQUIRE(store.ask<bool>(delete_atom_v, delete_request{"w:none", {}}));
  version_t vt = 0;
  if (transactions) {
    transaction_request txn;
    txn.ops.push_back(txn_op::put("w:{t}1", "t1"));
    txn.ops.push_back(txn_op::remove("w:{t}b"));
    auto committed = store.ask<transaction_reply>(transact_atom_v, txn);
    REQUIRE(committed);
    vt = committed->versions.at(0);
    // A transaction that fails its condition changes nothing, also when
    // an op before the one that fails could be applied (an engine that
    // runs them in order and rolls back must not report that one).
    transaction_request refused;
    refused.ops.push_back(txn_op::put("w:{t}1", "never"));
    refused.ops.push_back(
      txn_op::put("w:{t}2", "never", condition::matches(1)));
    REQUIRE_FALSE(store.ask<transaction_reply>(transact_atom_v, refused));
    refused.ops = {txn_op::put("w:{t}1", "never", condition::absent())};
    REQUIRE_FALSE(store.ask<transaction_reply>(transact_atom_v, refused));
  } else {
    vt = put("w:{t}1", "t1");
    REQUIRE(store.ask<bool>(delete_atom_v, delete_request{"w:{t}b", {}}));
  }
  put("w:ttl", "short", 300);
  // A delete by prefix is one delete event per key it removed.
  put("w:p:1", "p1");
  put("w:p:2", "p2");
  auto removed = store.ask<delete_prefix_result>(
    delete_atom_v, delete_prefix_request{"w:p:", 0});
  REQUIRE(removed);
  CHECK(removed->deleted == 2);
  REQUIRE(log->wait_events(11));
  // The expiry comes within a few sweep intervals of 300 ms.
  REQUIRE(log->wait_for(
    [&] {
      for (auto& ev : log->events)
        if (ev.key == "w:ttl" && ev.why() == change_cause::expire)
          return true;
      return false;
    },
    std::chrono::seconds{10}));
  auto events = log->snapshot();
  CHECK(history_of(events, "w:a")
        == std::vector<std::string>{"put:1", "put:2", "delete:"});
  CHECK(history_of(events, "w:{t}b")
        == std::vector<std::string>{"put:b1", "delete:"});
  CHECK(history_of(events, "w:{t}1") == std::vector<std::string>{"put:t1"});
  CHECK(history_of(events, "w:ttl")
        == std::vector<std::string>{"put:short", "expire:"});
  CHECK(history_of(events, "w:p:1")
        == std::vector<std::string>{"put:p1", "delete:"});
  CHECK(history_of(events, "w:p:2")
        == std::vector<std::string>{"put:p2", "delete:"});
  CHECK(history_of(events, "other:a").empty());
  CHECK(history_of(events, "w:none").empty());
  CHECK(history_of(events, "w:{t}2").empty());
  // Versions are the ones the writes answered; sequence numbers increase.
  std::map<std::string, std::vector<version_t>> versions;
  for (size_t i = 0; i < events.size(); ++i) {
    if (i > 0)
      CHECK(events[i].seq > events[i - 1].seq);
    if (events[i].why() == change_cause::put)
      versions[events[i].key].push_back(events[i].version);
  }
  CHECK(versions["w:a"] == std::vector<version_t>{v1, v2});
  CHECK(versions["w:{t}b"] == std::vector<version_t>{vb});
  CHECK(versions["w:{t}1"] == std::vector<version_t>{vt});
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

} // namespace solver_state::testing
