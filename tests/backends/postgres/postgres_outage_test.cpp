// The PostgreSQL backend when its server goes away: operations fail fast
// with backend_unavailable, the health check fails, the service stays up,
// and the same store recovers by itself once the server is back (with its
// data: the cluster restarts from its own files).

#include <catch2/catch.hpp>

#include "tests/support/outage_probe.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/query_checks.hpp"
#include "tests/support/watch_support.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

TEST_CASE("postgresql outage: fail fast, unhealthy, then recover") {
  // The cluster restarts from its own files: the data survives.
  testing::check_outage_and_recovery(testing::shared_postgres(),
                                     testing::shared_postgres().url()
                                       + "?timeout_ms=1000&table=outage",
                                     true, 20s);
}

TEST_CASE("postgresql unreachable at start-up: the store starts unhealthy") {
  auto port = testing::free_loopback_port();
  testing::running_store store{"postgresql://postgres@127.0.0.1:"
                               + std::to_string(port) + "/postgres"};
  testing::outage_probe probe{*store.sys, store.handles.router};
  CHECK(probe.health() == state_errc::backend_unavailable);
  CHECK(probe.put("state:u:1") == state_errc::backend_unavailable);
}

TEST_CASE("a postgresql store's watcher gets every change in order, and expired "
          "rows are expire events") {
  testing::running_store store{testing::shared_postgres().url()
                               + "?table=watch"};
  testing::check_watch_changes(store);
}

TEST_CASE("a postgresql store's watcher of this node's own writes "
          "(watches=local) gets every change in order, and nothing of a "
          "transaction rolled back") {
  testing::running_store store{testing::shared_postgres().url()
                               + "?table=watch_local&watches=local"};
  testing::check_watch_changes(store);
}

TEST_CASE("queries on a postgresql store, transactions over several shards "
          "included") {
  testing::running_store store{testing::query_config(
    testing::shared_postgres().url() + "?table=query", 3)};
  testing::check_queries(store, {true, true});
}

TEST_CASE("queries through one instance follow the writes of another on the "
          "same postgresql table (its change feed)") {
  auto type = testing::shared_postgres().url() + "?table=query_shared";
  testing::running_store reader{testing::query_config(type, 2)};
  testing::running_store writer{testing::query_config(type, 2)};
  testing::check_queries_follow_other_instances(reader, writer);
}

TEST_CASE("a changed key read back for the indexes ahead of this shard's own "
          "write of it leaves the write indexed") {
  testing::check_feed_read_before_own_write(testing::shared_postgres().url()
                                            + "?table=query_race");
}

TEST_CASE("a key another instance removed leaves the indexes when the feed "
          "reports it") {
  testing::check_feed_read_of_removed_key(testing::shared_postgres().url()
                                          + "?table=query_removed");
}

TEST_CASE("an instance told watches=local reads no change feed: its "
          "queries follow its own writes only") {
  auto type = testing::shared_postgres().url() + "?table=query_local";
  testing::running_store reader{
    testing::query_config(type + "&watches=local", 2)};
  testing::running_store writer{testing::query_config(type, 2)};
  testing::check_local_instance_reads_no_feed(reader, writer);
}
