// The PostgreSQL backend on a primary and a streaming standby, named
// together in one multi-host URL: writes through two nodes follow the
// standby's promotion without a restart (libpq finds the read-write host);
// with a synchronous standby every acknowledged write survives the
// primary's crash, and without one those the standby lacked are lost.

#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/failover_load.hpp"
#include "tests/support/outage_probe.hpp"
#include "tests/support/postgres_replicas.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

const std::string quick = "?timeout_ms=1000&connect_timeout_ms=1000";

/// Breaks the standby's link for a second (it falls behind), crashes the
/// primary and promotes the standby.
failover_figures crash_primary_under_load(postgres_replicas& pg) {
  return measure_failover(pg.url(quick), [&] {
    pg.detach_standby();
    std::this_thread::sleep_for(1s);
    pg.kill_primary(); // returns once it is gone
    auto crashed_at = failover_load::clock::now();
    pg.promote_standby();
    return crashed_at;
  });
}

} // namespace

TEST_CASE("postgresql: with a synchronous standby every acknowledged write "
          "survives the primary's crash") {
  postgres_replicas pg{true};
  auto f = crash_primary_under_load(pg);
  report_failover("postgresql failover (synchronous standby)", f);
  CHECK(f.acknowledged >= 800);
  CHECK(f.missing == 0);
}

TEST_CASE("postgresql: with an asynchronous standby writes resume after a "
          "promotion, and those the standby lacked are lost") {
  postgres_replicas pg{false};
  auto f = crash_primary_under_load(pg);
  report_failover("postgresql failover (asynchronous standby)", f);
  CHECK(f.acknowledged >= 800);
  CHECK(f.missing > 0);
}

TEST_CASE("postgresql: a multi-host URL writes to the read-write host, "
          "whatever the order") {
  postgres_replicas pg{false};
  // The standby first: libpq skips it (read-only) for the primary.
  running_store node{"postgresql://postgres@127.0.0.1:"
                       + std::to_string(pg.standby_port()) + ",127.0.0.1:"
                       + std::to_string(pg.primary_port()) + "/postgres"
                       + quick,
                     1};
  outage_probe probe{*node.sys, node.handles.router};
  CHECK(probe.put("state:m:1") == state_errc::none);
  CHECK(probe.get("state:m:1") == state_errc::none);
  // The standby is asynchronous: once it holds m:1, the promotion keeps it
  // (what an asynchronous standby loses is the test above's point).
  pg.wait_standby_caught_up();
  // With the primary gone and the standby not promoted, no host accepts
  // writes: backend_unavailable, never a write to the standby.
  pg.kill_primary();
  CHECK(probe.put("state:m:2") == state_errc::backend_unavailable);
  pg.promote_standby();
  CHECK(wait_until([&] { return probe.put("state:m:2") == state_errc::none; },
                   20s));
  CHECK(probe.get("state:m:1") == state_errc::none);
}
