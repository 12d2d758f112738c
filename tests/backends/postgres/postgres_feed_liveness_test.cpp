// The PostgreSQL change feed against a server that stops answering while
// its socket stays open (a stopped process, a paused VM): the feed must
// notice, so that the node's watchers resync, and read again once the
// server answers.

#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "backends/postgres/feed.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/postgres_sessions.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

/// Sends SIGCONT to a process it was given stopped, whatever happens.
struct resumed_at_exit {
  int pid;
  ~resumed_at_exit() { ::kill(pid, SIGCONT); }
};

/// Reads `feed` until it fails or `limit` passes; its error, or none.
caf::error read_until_failure(change_feed& feed,
                              std::chrono::milliseconds limit) {
  auto until = steady::now() + limit;
  while (steady::now() < until) {
    std::vector<change_event> out;
    if (auto err = feed.next(out, 16, 100ms))
      return err;
  }
  return {};
}

/// Reads `feed` until a change of `key` arrives or `limit` passes.
bool reads_change_of(change_feed& feed, const std::string& key,
                     std::chrono::milliseconds limit) {
  auto until = steady::now() + limit;
  while (steady::now() < until) {
    std::vector<change_event> out;
    if (feed.next(out, 16, 100ms))
      return false;
    for (auto& ev : out)
      if (ev.key == key)
        return true;
  }
  return false;
}

} // namespace

// The feed only polled its socket: a server that froze (SIGSTOP) sent
// nothing and closed nothing, so the feed waited for ever while the stores
// failed over, its watchers got no resync and
// solver_state_change_feed_up stayed 1.
TEST_CASE("postgresql feed: a server that stops answering loses the feed "
          "within a second of silence plus timeout_ms") {
  auto& server = shared_postgres();
  auto url = server.url() + "?table=feed_live&timeout_ms=500";
  auto stores = open_stores(url); // the table the feed reads from
  auto opts = parse_postgres_url(url);
  REQUIRE(opts);
  auto feed = make_postgres_change_feed(*opts);
  REQUIRE_FALSE(feed->start());
  REQUIRE(stores[0]->set(set_request{"state:fl:1", "v", 0, {}}, 0, wall_ms()));
  CHECK(reads_change_of(*feed, "state:fl:1", 2s));
  // A quiet feed on a live server stays up.
  CHECK_FALSE(read_until_failure(*feed, 1500ms));

  auto pids = session_pids(server, "solver-state feed");
  REQUIRE(pids.size() == 1);
  ::kill(pids[0], SIGSTOP);
  {
    resumed_at_exit resume{pids[0]};
    auto start = steady::now();
    auto err = read_until_failure(*feed, 1s + 2 * opts->command_timeout);
    REQUIRE(err);
    CHECK(code_of(err) == state_errc::backend_unavailable);
    CHECK(steady::now() - start < 1s + 2 * opts->command_timeout);
  }
  // Started again (a new session), it reads the changes made from then.
  CHECK(wait_until([&] { return !feed->start(); }, 5s));
  REQUIRE(stores[0]->set(set_request{"state:fl:2", "v", 0, {}}, 0, wall_ms()));
  CHECK(reads_change_of(*feed, "state:fl:2", 2s));
}
