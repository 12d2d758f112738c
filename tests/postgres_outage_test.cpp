// The PostgreSQL backend when its server goes away: operations fail fast
// with backend_unavailable, the health check fails, the service stays up,
// and the same store recovers by itself once the server is back (with its
// data: the cluster restarts from its own files).

#include <catch2/catch.hpp>

#include "tests/outage_probe.hpp"
#include "tests/postgres_server.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

TEST_CASE("postgresql outage: fail fast, unhealthy, then recover") {
  auto& server = testing::shared_postgres();
  testing::running_store store{server.url()
                               + "?timeout_ms=1000&table=outage"};
  testing::outage_probe probe{*store.sys, store.handles.router};
  REQUIRE(probe.put("state:o:before") == state_errc::none);
  REQUIRE(probe.health() == state_errc::none);

  probe.start_load(8);
  REQUIRE(testing::wait_until(
    [&] { return probe.count(state_errc::none) > 100; }, 10s));
  server.kill();
  CHECK(testing::wait_until(
    [&] { return probe.count(state_errc::backend_unavailable) > 20; }, 10s));
  CHECK(probe.put("state:o:during") == state_errc::backend_unavailable);
  CHECK(probe.get("state:o:before") == state_errc::backend_unavailable);
  CHECK(probe.health() == state_errc::backend_unavailable);

  server.restart();
  auto ok_before = probe.count(state_errc::none);
  CHECK(testing::wait_until(
    [&] { return probe.count(state_errc::none) > ok_before + 100; }, 20s));
  probe.stop_load();
  // Each shard reconnects on its first operation after its backoff pause
  // (at most 2 s), so the last shards may come back a little later.
  CHECK(testing::wait_until(
    [&] { return probe.health() == state_errc::none; }, 10s));
  CHECK(probe.get("state:o:before") == state_errc::none); // data survived
  CHECK(probe.put("state:o:after") == state_errc::none);
  for (auto [code, n] : probe.outcomes()) {
    INFO(to_string(code) << " x" << n);
    CHECK((code == state_errc::none || code == state_errc::backend_unavailable));
  }
}

TEST_CASE("postgresql unreachable at start-up: the store starts unhealthy") {
  auto port = testing::free_loopback_port();
  testing::running_store store{"postgresql://postgres@127.0.0.1:"
                               + std::to_string(port) + "/postgres"};
  testing::outage_probe probe{*store.sys, store.handles.router};
  CHECK(probe.health() == state_errc::backend_unavailable);
  CHECK(probe.put("state:u:1") == state_errc::backend_unavailable);
}
