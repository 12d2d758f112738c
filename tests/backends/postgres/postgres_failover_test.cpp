// The PostgreSQL backend on a primary and a streaming standby, named
// together in one multi-host URL: writes through two nodes follow the
// standby's promotion without a restart (libpq finds the read-write host);
// with a synchronous standby every acknowledged write survives the
// primary's crash, and without one those the standby lacked are lost.

#include <cstdio>
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

struct failover_figures {
  size_t acknowledged = 0;
  size_t missing = 0;
  size_t failed_writes = 0;
  std::chrono::milliseconds resumed{0};
};

/// Writes through two nodes, breaks the standby's link for a second (it
/// falls behind), crashes the primary, promotes the standby, waits for
/// writes to resume, then counts acknowledged writes a fresh node cannot
/// read.
failover_figures crash_primary_under_load(postgres_replicas& pg) {
  running_store a{pg.url(quick), 2};
  running_store b{pg.url(quick), 2};
  failover_load load{{&a, &b}, 2};
  REQUIRE(wait_until([&] { return load.acknowledged_count() >= 400; }, 20s));
  pg.detach_standby();
  std::this_thread::sleep_for(1s);
  pg.kill_primary(); // returns once it is gone
  auto crashed_at = failover_load::clock::now();
  pg.promote_standby();
  auto before = load.acknowledged_count();
  CHECK(wait_until([&] { return load.acknowledged_count() >= before + 400; },
                   30s));
  load.stop();
  failover_figures out;
  out.resumed = load.resumed_after(crashed_at);
  out.failed_writes = load.failures();
  INFO("last failure: " << load.last_failure());
  REQUIRE(out.resumed.count() >= 0);
  auto acked = load.acknowledged();
  out.acknowledged = acked.size();
  running_store reader{pg.url(quick), 1};
  out.missing = missing_keys(reader, acked);
  return out;
}

void report(const char* what, const failover_figures& f) {
  std::printf("postgresql failover (%s): writes resumed on both nodes %lld "
              "ms after the primary crashed (promotion included); %zu "
              "acknowledged, %zu missing afterwards, %zu writes failed "
              "meanwhile\n",
              what, static_cast<long long>(f.resumed.count()), f.acknowledged,
              f.missing, f.failed_writes);
}

} // namespace

TEST_CASE("postgresql: with a synchronous standby every acknowledged write "
          "survives the primary's crash") {
  postgres_replicas pg{true};
  auto f = crash_primary_under_load(pg);
  report("synchronous standby", f);
  CHECK(f.acknowledged >= 800);
  CHECK(f.missing == 0);
}

TEST_CASE("postgresql: with an asynchronous standby writes resume after a "
          "promotion, and those the standby lacked are lost") {
  postgres_replicas pg{false};
  auto f = crash_primary_under_load(pg);
  report("asynchronous standby", f);
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
  // With the primary gone and the standby not promoted, no host accepts
  // writes: backend_unavailable, never a write to the standby.
  pg.kill_primary();
  CHECK(probe.put("state:m:2") == state_errc::backend_unavailable);
  pg.promote_standby();
  CHECK(wait_until([&] { return probe.put("state:m:2") == state_errc::none; },
                   20s));
  CHECK(probe.get("state:m:1") == state_errc::none);
}
