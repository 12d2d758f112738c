// The Redis backend's pipelined batches (state_store::apply) against a real
// redis-server: order on one key, the script cache flushed mid-batch, and
// the connection lost mid-pipeline; and the shard's queue in front of it.

#include <signal.h>

#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "messages/protocol.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/query_checks.hpp"
#include "tests/support/running_store.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/watch_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

TEST_CASE("redis: a pipelined batch mixing ops on one key runs in order") {
  auto& server = shared_redis();
  server.flush();
  auto stores = open_stores(server.url("pipe:"));
  check_mixed_batch(*stores[0]);
}

TEST_CASE("redis: a batch larger than one round trip keeps its order") {
  auto& server = shared_redis();
  server.flush();
  auto stores = open_stores(server.url("pipe:"));
  check_large_batch(*stores[0]);
}

TEST_CASE("redis: scripts flushed mid-batch: no op runs out of order") {
  auto& server = shared_redis();
  server.flush();
  auto stores = open_stores(server.url("noscript:"));
  auto& s = *stores[0];
  auto now = wall_ms();
  std::vector<pending_op> first; // a batch: loads the scripts
  first.push_back(set_op("state:n:k", "old"));
  s.apply(first, now);
  REQUIRE(code(first[0]) == state_errc::none);
  auto v_old =first[0].written->version;
  REQUIRE(server.cli({"SCRIPT", "FLUSH"}) == 0);
  // Conditional writes and deletes run as scripts (unconditional writes
  // do not).
  std::vector<pending_op> ops;
  ops.push_back(set_op("state:n:k", "new", condition::matches(v_old)));
  ops.push_back(get_op("state:n:k"));                         // ran: "old"
  ops.push_back(set_op("state:n:j", "j", condition::absent())); // rerun
  ops.push_back(erase_op("state:n:gone"));                      // rerun
  s.apply(ops, now);
  // The set of k did not run before the get that came after it, so it
  // must not run after it either: it fails, retryable.
  CHECK(code(ops[0]) == state_errc::backend_unavailable);
  REQUIRE(ops[1].got);
  CHECK(ops[1].got->value == "old");
  CHECK(code(ops[2]) == state_errc::none);
  REQUIRE(ops[3].erased);
  CHECK_FALSE(*ops[3].erased);
  CHECK(s.get("state:n:k", now)->value == "old");
  CHECK(s.get("state:n:j", now)->value == "j");
  // The next batch loads the scripts again.
  std::vector<pending_op> again;
  again.push_back(set_op("state:n:k", "new", condition::matches(v_old)));
  again.push_back(get_op("state:n:k"));
  s.apply(again, now);
  CHECK(code(again[0]) == state_errc::none);
  REQUIRE(again[1].got);
  CHECK(again[1].got->value == "new");
}

TEST_CASE("redis: scripts flushed before a single operation: reloaded, run "
          "once") {
  auto& server = shared_redis();
  server.flush();
  auto stores = open_stores(server.url("noscript1:"));
  auto& s = *stores[0];
  auto now = wall_ms();
  auto first = s.set(set_request{"state:m:k", "old", 0, condition::absent()},
                     0, now);
  REQUIRE(first);
  REQUIRE(server.cli({"SCRIPT", "FLUSH"}) == 0);
  auto second = s.set(
    set_request{"state:m:k", "new", 0, condition::matches(first->version)}, 0,
    now);
  REQUIRE(second);
  CHECK(second->version > first->version);
  CHECK(s.get("state:m:k", now)->value == "new");
  REQUIRE(server.cli({"SCRIPT", "FLUSH"}) == 0);
  auto erased = s.erase(
    delete_request{"state:m:k", condition::matches(second->version)}, now);
  REQUIRE(erased);
  CHECK(*erased);
  CHECK_FALSE(s.get("state:m:k", now));
}

TEST_CASE("redis: connection lost mid-pipeline: every op of the batch is "
          "backend_unavailable, then the store recovers") {
  redis_server server;
  // A generous command timeout: the failure must come from the lost
  // connection, not from the timeout.
  auto stores = open_stores(server.url("lost:") + "&timeout_ms=10000");
  auto& s = *stores[0];
  auto now = wall_ms();
  std::vector<pending_op> first; // connects and loads the scripts
  first.push_back(set_op("state:l:k", "before"));
  s.apply(first, now);
  REQUIRE(code(first[0]) == state_errc::none);
  server.pause(); // the server stops answering: the batch goes out, no reply
  std::vector<pending_op> ops;
  for (int i = 0; i < 50; ++i) {
    ops.push_back(set_op("state:l:" + std::to_string(i), "v"));
    ops.push_back(get_op("state:l:k"));
  }
  std::thread batch{[&] { s.apply(ops, now); }};
  std::this_thread::sleep_for(300ms); // the commands are on the wire
  server.kill();                      // the connection dies mid-pipeline
  batch.join();
  for (size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i);
    CHECK(code(ops[i]) == state_errc::backend_unavailable);
  }
  server.restart();
  // Reconnects after its backoff pause; replies must line up with the new
  // batch's commands (nothing left over from the lost one).
  bool recovered = wait_until(
    [&] {
      std::vector<pending_op> probe;
      probe.push_back(set_op("state:l:k", "after"));
      probe.push_back(get_op("state:l:k"));
      s.apply(probe, wall_ms());
      return code(probe[0]) == state_errc::none && probe[1].got
             && probe[1].got->value == "after"
             && probe[1].got->version == probe[0].written->version;
    },
    15s);
  CHECK(recovered);
}

TEST_CASE("redis: requests in flight to one shard are answered in order") {
  auto& server = shared_redis();
  server.flush();
  running_store store{server.url("inflight:"), 2};
  {
    caf::scoped_actor self{*store.sys};
    auto& router = store.handles.router;
    const std::string key = "state:f:k";
    constexpr int rounds = 200;
    // Every request is sent before any reply is read: they queue up in the
    // shard and leave in pipelined batches.
    std::vector<decltype(self->request(router, 10s, get_atom_v,
                                       key))> gets;
    std::vector<decltype(self->request(router, 10s, put_atom_v,
                                       set_request{}))> writes;
    for (int i = 0; i < rounds; ++i) {
      writes.push_back(self->request(router, 10s, put_atom_v,
                                     set_request{key, std::to_string(i), 0,
                                                 condition::always()}));
      gets.push_back(self->request(router, 10s, get_atom_v, key));
    }
    version_t last = 0;
    for (int i = 0; i < rounds; ++i) {
      version_t written = 0;
      writes[i].receive([&](const write_result& w) { written = w.version; },
                        [&](caf::error& err) { FAIL(message_of(err)); });
      gets[i].receive(
        [&](entry& e) {
          CHECK(e.value == std::to_string(i));
          CHECK(e.version == written);
        },
        [&](caf::error& err) { FAIL(message_of(err)); });
      CHECK(written != last);
      last = written;
    }
  }
}

TEST_CASE("a redis store's watcher gets every change in order, and keys that "
          "redis expires are expire events") {
  auto& server = shared_redis();
  server.flush();
  running_store store{server.url("watch:"), 2};
  check_watch_changes(store);
}

TEST_CASE("queries on a redis store, transactions over several shards "
          "included") {
  auto& server = shared_redis();
  server.flush();
  running_store store{query_config(server.url(), 3)};
  check_queries(store, {true, true});
}

TEST_CASE("queries through one instance follow the writes of another on the "
          "same redis (its change feed)") {
  auto& server = shared_redis();
  server.flush();
  running_store reader{query_config(server.url(), 2)};
  running_store writer{query_config(server.url(), 2)};
  check_queries_follow_other_instances(reader, writer);
}

TEST_CASE("a changed key read back for the indexes ahead of this shard's own "
          "write of it leaves the write indexed") {
  auto& server = shared_redis();
  server.flush();
  check_feed_read_before_own_write(server.url());
}

TEST_CASE("a key another instance removed leaves the indexes when the feed "
          "reports it") {
  auto& server = shared_redis();
  server.flush();
  check_feed_read_of_removed_key(server.url());
}

TEST_CASE("an instance told watches=local reads no change feed: its "
          "queries follow its own writes only") {
  auto& server = shared_redis();
  server.flush();
  running_store reader{query_config(server.url() + "?watches=local", 2)};
  running_store writer{query_config(server.url(), 2)};
  check_local_instance_reads_no_feed(reader, writer);
}
