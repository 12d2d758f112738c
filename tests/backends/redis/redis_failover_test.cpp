// The Redis backend on a replicated Redis watched by Sentinels: writes
// through two nodes follow a failover without a restart; with
// wait_replicas every acknowledged write survives the master's death;
// a master demoted while connected (READONLY) is left for the new one; and
// WAIT's shortfall is an error the caller sees, never a silent success.

#include <thread>

#include <catch2/catch.hpp>

#include "backends/shard_placement.hpp"

#include "tests/support/failover_load.hpp"
#include "tests/support/outage_probe.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/query_checks.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/redis_sentinels.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

/// Fast failure detection, so the test measures the failover, not our
/// timeouts.
const std::string quick = "timeout_ms=1000&connect_timeout_ms=300";

/// Lets the replicas fall behind for a second (their link to the master
/// broken), kills the master and waits for the Sentinels' promotion. The
/// lag makes the loss certain for writes acknowledged on the master's word
/// alone, so a test that finds nothing missing shows what waiting for
/// replicas is worth.
failover_figures kill_master_under_load(redis_sentinels& redis,
                                        const std::string& query) {
  return measure_failover(redis.url(query), [&] {
    auto old_master = redis.master_port();
    REQUIRE(old_master != 0);
    redis.detach_replicas(old_master);
    std::this_thread::sleep_for(1s);
    redis.kill(old_master); // returns once it is gone
    auto killed_at = failover_load::clock::now();
    REQUIRE(redis.wait_for_new_master(old_master, 30s));
    return killed_at;
  });
}

} // namespace

TEST_CASE("redis sentinel: with wait_replicas every acknowledged write "
          "survives the master's death") {
  // Two replicas for WAIT 1: after the failover one is left to acknowledge.
  redis_sentinels redis{2};
  auto f = kill_master_under_load(
    redis, "?prefix=fo:&wait_replicas=1&wait_timeout_ms=500&" + quick);
  report_failover("redis failover (wait_replicas=1)", f);
  CHECK(f.acknowledged >= 800);
  CHECK(f.missing == 0);
}

TEST_CASE("redis sentinel: without waiting for replicas, writes resume "
          "after a failover, and those the replica lacked are lost") {
  redis_sentinels redis{1};
  auto f = kill_master_under_load(redis, "?prefix=fo:&" + quick);
  report_failover("redis failover (no wait)", f);
  CHECK(f.acknowledged >= 800);
  // Acknowledged while the replica was behind: gone with the master.
  CHECK(f.missing > 0);
}

TEST_CASE("redis sentinel: a live master demoted by SENTINEL FAILOVER is "
          "left for the new one") {
  // The Sentinels close the demoted master's client connections; the store
  // reconnects through them and finds the promoted replica.
  redis_sentinels redis{1};
  running_store node{redis.url("?prefix=demote:&" + quick), 1};
  outage_probe probe{*node.sys, node.handles.router};
  REQUIRE(probe.put("state:d:1") == state_errc::none);
  auto old_master = redis.master_port();
  REQUIRE(redis.cli(old_master, {"INFO", "replication"}).find("role:master")
          != std::string::npos);
  // A Sentinel refuses a failover until it has seen the replica's offset.
  REQUIRE(wait_until(
    [&] {
      return redis.cli(redis.sentinel_port(0),
                       {"SENTINEL", "FAILOVER", redis_sentinels::master_name})
             == "OK\n";
    },
    20s));
  REQUIRE(redis.wait_for_new_master(old_master, 30s));
  REQUIRE(wait_until(
    [&] {
      return redis.cli(old_master, {"INFO", "replication"}).find("role:slave")
             != std::string::npos;
    },
    30s));
  // The first write may fail (backend_unavailable, retryable); the store
  // then finds the new master without a restart.
  CHECK(wait_until([&] { return probe.put("state:d:2") == state_errc::none; },
                   10s));
  CHECK(probe.get("state:d:1") == state_errc::none);
  CHECK(probe.get("state:d:2") == state_errc::none);
}

TEST_CASE("redis: a server that answers READONLY is retryable and the "
          "next command reconnects") {
  // A master demoted behind our back (an operator's REPLICAOF; nothing
  // closes our connection): writes get READONLY.
  redis_server server;
  running_store store{server.url("ro:"), 1};
  outage_probe probe{*store.sys, store.handles.router};
  REQUIRE(probe.put("state:r:1") == state_errc::none);
  auto nowhere = std::to_string(free_loopback_port());
  REQUIRE(server.cli({"REPLICAOF", "127.0.0.1", nowhere}) == 0);
  auto connections = [&] {
    testing::temp_dir dir{"ro"};
    run_command({"redis-cli", "-p", std::to_string(server.port()), "INFO",
                 "stats"},
                dir.path() + "/out");
    auto text = read_text(dir.path() + "/out");
    auto at = text.find("total_connections_received:");
    REQUIRE(at != std::string::npos);
    return std::stol(text.substr(at + 27));
  };
  auto before = connections();
  auto put = store.ask<write_result>(
    put_atom_v, set_request{"state:r:2", "v", 0, condition::always()});
  REQUIRE_FALSE(put);
  CHECK(code_of(put.error()) == state_errc::backend_unavailable);
  INFO(message_of(put.error()));
  CHECK(message_of(put.error()).find("READONLY") != std::string::npos);
  // Reads still work: a new connection, since READONLY may mean a
  // failover that the Sentinels would answer differently.
  CHECK(probe.get("state:r:1") == state_errc::none);
  CHECK(connections() > before + 1); // our reconnect, and INFO's own
}

TEST_CASE("redis: wait_replicas without enough replicas fails the write "
          "and says so") {
  // A lone server: WAIT 1 can never be satisfied.
  auto& server = shared_redis();
  running_store store{server.url("wait:") + "&wait_replicas=1"
                        "&wait_timeout_ms=100",
                      1};
  caf::scoped_actor self{*store.sys};
  auto put = store.ask<write_result>(
    put_atom_v, set_request{"state:w:1", "v", 0, condition::always()});
  REQUIRE_FALSE(put);
  CHECK(code_of(put.error()) == state_errc::backend_unavailable);
  CHECK(message_of(put.error()).find("0 of 1 replicas")
        != std::string::npos);
  // Applied on the master only: readable, and its outcome was reported as
  // unknown rather than as a success.
  CHECK(store.ask<entry>(get_atom_v, std::string{"state:w:1"}));
  // A condition that fails wrote nothing: its own error, not WAIT's.
  auto mismatch = store.ask<write_result>(
    put_atom_v, set_request{"state:w:1", "v2", 0, condition::absent()});
  REQUIRE_FALSE(mismatch);
  CHECK(code_of(mismatch.error()) == state_errc::version_mismatch);
  // A delete and a transaction wait too.
  auto erased = store.ask<bool>(delete_atom_v,
                                delete_request{"state:w:1", condition{}});
  REQUIRE_FALSE(erased);
  CHECK(code_of(erased.error()) == state_errc::backend_unavailable);
  transaction_request txn;
  txn.ops.push_back(txn_op::put("state:w:2", "a"));
  txn.ops.push_back(txn_op::put("state:w:3", "b"));
  auto committed = store.ask<transaction_reply>(transact_atom_v, txn);
  REQUIRE_FALSE(committed);
  CHECK(message_of(committed.error()).find("replicas") != std::string::npos);
  // Not ready (/readyz 503, backend_up 0) while every write fails so,
  // though the server answers PING.
  auto health = store.ask<health_report>(health_atom_v);
  REQUIRE_FALSE(health);
  CHECK(code_of(health.error()) == state_errc::backend_unavailable);
  CHECK(message_of(health.error())
          .find("0 replica(s) online and wait_replicas is 1")
        != std::string::npos);
  running_store plain{server.url("wait:"), 1};
  CHECK(plain.ask<health_report>(health_atom_v));
}

TEST_CASE("redis: with wait_replicas and INFO refused to its user, the "
          "store stays ready, its writes still wait") {
  // A least-privilege user: every command but the @dangerous ones (INFO).
  auto& server = shared_redis();
  REQUIRE(server.cli({"ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "&*",
                      "+@all", "-@dangerous"})
          == 0);
  auto url = "redis://noinfo:pw@127.0.0.1:" + std::to_string(server.port())
             + "/0?prefix=noinfo:&wait_replicas=1&wait_timeout_ms=100";
  auto stores = open_stores(url);
  // Not 503 for good: INFO's refusal is not the backend's death.
  CHECK_FALSE(stores[0]->health_check());
  CHECK_FALSE(stores[0]->health_check());
  // Writes still wait for their replicas, and fail without them.
  auto put = stores[0]->set(
    set_request{"state:ni:1", "v", 0, condition::always()}, 0, wall_ms());
  REQUIRE_FALSE(put);
  CHECK(message_of(put.error()).find("0 of 1 replicas") != std::string::npos);
}

TEST_CASE("redis sentinel: with wait_replicas a master with its replicas is "
          "ready, and not ready once they are gone") {
  redis_sentinels redis{1};
  running_store store{
    redis.url("?prefix=rd:&wait_replicas=1&wait_timeout_ms=500&" + quick), 1};
  // The replica comes online a moment after the master starts.
  CHECK(wait_until(
    [&] { return bool(store.ask<health_report>(health_atom_v)); }, 10s));
  redis.detach_replicas(redis.master_port());
  caf::expected<health_report> health{health_report{}};
  CHECK(wait_until(
    [&] {
      health = store.ask<health_report>(health_atom_v);
      return !health;
    },
    10s));
  REQUIRE_FALSE(health);
  CHECK(message_of(health.error()).find("wait_replicas is 1")
        != std::string::npos);
}

TEST_CASE("redis: a transaction over two shards that WAIT failed was still "
          "applied, and both shards' indexes find its keys") {
  auto& server = shared_redis();
  // Two keys of different shards (no placement group in common).
  std::string a = "q:a", b;
  for (int i = 0; b.empty(); ++i) {
    auto k = "q:b" + std::to_string(i);
    if (shard_index(k, 2) != shard_index(a, 2))
      b = k;
  }
  put_statuses(server.url("wq:"), 2, {a, b}, "filled");
  // No change feed: this instance's indexes learn only of its own writes.
  running_store store{query_config(server.url("wq:")
                                     + "&wait_replicas=1&wait_timeout_ms=100"
                                       "&watches=local",
                                   2)};
  transaction_request txn;
  txn.ops.push_back(txn_op::put(a, R"({"status":"pending"})"));
  txn.ops.push_back(txn_op::put(b, R"({"status":"pending"})"));
  auto committed = store.ask<transaction_reply>(transact_atom_v, txn);
  REQUIRE_FALSE(committed); // WAIT 1 on a lone server
  CHECK(code_of(committed.error()) == state_errc::backend_unavailable);
  std::vector<std::string> found;
  CHECK(wait_until(
    [&] {
      found = keys_with_status(store, "pending");
      return found.size() == 2;
    },
    3s));
  CAPTURE(found);
}

TEST_CASE("redis: single writes that WAIT failed were still applied, and "
          "the indexes of a lone instance follow them") {
  auto& server = shared_redis();
  put_statuses(server.url("wq1:"), 2, {"q:put", "q:del"}, "filled");
  // No change feed: this instance's indexes learn only of its own writes.
  running_store store{query_config(server.url("wq1:")
                                     + "&wait_replicas=1&wait_timeout_ms=100"
                                       "&watches=local",
                                   2)};
  // Built from what the engine holds before anything below is written (a
  // build that read the keys after the writes would hide what is tested).
  std::vector<std::string> found;
  REQUIRE(wait_until(
    [&] {
      found = keys_with_status(store, "filled");
      return found.size() == 2;
    },
    3s));
  auto put = store.ask<write_result>(
    put_atom_v, set_request{"q:put", R"({"status":"pending"})", 0, {}});
  REQUIRE_FALSE(put); // WAIT 1 on a lone server
  CHECK(code_of(put.error()) == state_errc::backend_unavailable);
  auto erased = store.ask<bool>(delete_atom_v, delete_request{"q:del", {}});
  REQUIRE_FALSE(erased);
  CHECK(wait_until(
    [&] {
      found = keys_with_status(store, "pending");
      return found == std::vector<std::string>{"q:put"};
    },
    3s));
  CAPTURE(found);
}

TEST_CASE("redis sentinel: no Sentinel reachable is backend_unavailable "
          "naming them, and the service stays up") {
  auto p1 = free_loopback_port();
  auto p2 = free_loopback_port();
  running_store store{"redis-sentinel://127.0.0.1:" + std::to_string(p1)
                        + ",127.0.0.1:" + std::to_string(p2)
                        + "/solver/0?connect_timeout_ms=200",
                      1};
  auto put = store.ask<write_result>(
    put_atom_v, set_request{"state:n:1", "v", 0, condition::always()});
  REQUIRE_FALSE(put);
  CHECK(code_of(put.error()) == state_errc::backend_unavailable);
  auto why = message_of(put.error());
  INFO(why);
  CHECK(why.find("master solver") != std::string::npos);
  CHECK(why.find("sentinel 127.0.0.1:" + std::to_string(p1))
        != std::string::npos);
  CHECK(why.find("sentinel 127.0.0.1:" + std::to_string(p2))
        != std::string::npos);
}
