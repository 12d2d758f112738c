// The PostgreSQL backend's pipelined batches (state_store::apply, one
// pipeline-mode transaction per batch) against a real cluster: order on one
// key, a failing statement that rolls the batch back, and the connection
// lost mid-pipeline.

#include <signal.h>

#include <thread>

#include <catch2/catch.hpp>

#include "backends/postgres/connection.hpp"
#include "backends/postgres/options.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/postgres_server.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

TEST_CASE("postgresql: a pipelined batch mixing ops on one key runs in "
          "order") {
  auto& server = shared_postgres();
  server.truncate("pipe_mixed");
  auto stores = open_stores(server.url() + "?table=pipe_mixed");
  check_mixed_batch(*stores[0]);
}

TEST_CASE("postgresql: a batch larger than one round trip keeps its order") {
  auto& server = shared_postgres();
  auto stores = open_stores(server.url() + "?table=pipe_large");
  check_large_batch(*stores[0]);
}

TEST_CASE("postgresql: one failing statement fails only its own op") {
  auto& server = shared_postgres();
  auto stores = open_stores(server.url() + "?table=pipe_fail");
  auto& s = *stores[0];
  // A constraint the store knows nothing about: the long value's upsert
  // fails, which aborts the batch's transaction.
  server.sql("ALTER TABLE pipe_fail DROP CONSTRAINT IF EXISTS small;"
             "ALTER TABLE pipe_fail ADD CONSTRAINT small"
             " CHECK (length(value) < 100)");
  auto now = wall_ms();
  std::vector<pending_op> ops;
  ops.push_back(set_op("state:f:a", "1"));
  ops.push_back(get_op("state:f:a"));
  ops.push_back(set_op("state:f:b", std::string(200, 'x')));
  ops.push_back(set_op("state:f:c", "3"));
  ops.push_back(get_op("state:f:b"));
  s.apply(ops, now);
  CHECK(code(ops[0]) == state_errc::none);
  REQUIRE(ops[1].got);
  CHECK(ops[1].got->value == "1");
  CHECK(ops[1].got->version == ops[0].written->version);
  CHECK(code(ops[2]) == state_errc::backend_error);
  CHECK(code(ops[3]) == state_errc::none);
  CHECK(code(ops[4]) == state_errc::not_found);
  CHECK(s.get("state:f:a", now)->value == "1");
  CHECK(s.get("state:f:c", now)->value == "3");
}

// Each statement's parameters must stay its own once the statement is
// copied into the batch: a copy that pointed into the freed parameters it
// was made from read the next statement's values instead.
TEST_CASE("postgresql: a pipelined get answers an expired key as absent") {
  auto& server = shared_postgres();
  server.truncate("pipe_params");
  auto stores = open_stores(server.url() + "?table=pipe_params");
  auto& s = *stores[0];
  auto now = wall_ms();
  REQUIRE(s.set(set_request{"state:p:k", "old", 0, {}}, now - 1000, now));
  std::vector<pending_op> ops;
  ops.push_back(get_op("state:p:k"));
  ops.push_back(set_op("state:p:l", "v")); // no TTL: expires_at 0
  s.apply(ops, now);
  CHECK(code(ops[0]) == state_errc::not_found);
  CHECK(code(ops[1]) == state_errc::none);
}

TEST_CASE("postgresql: a pipelined If-Match delete compares the version "
          "it was given") {
  auto& server = shared_postgres();
  server.truncate("pipe_params");
  auto stores = open_stores(server.url() + "?table=pipe_params");
  auto& s = *stores[0];
  auto now = wall_ms();
  auto written = s.set(set_request{"state:p:k", "v", 0, {}}, 0, now);
  REQUIRE(written);
  std::vector<pending_op> ops;
  ops.push_back(erase_op("state:p:k", condition::matches(written->version)));
  ops.push_back(get_op("state:p:x"));
  s.apply(ops, now);
  INFO(to_string(code(ops[0])));
  REQUIRE(ops[0].erased);
  CHECK(*ops[0].erased);
  CHECK(code(ops[1]) == state_errc::not_found);
  CHECK(code_of(s.get("state:p:k", now).error()) == state_errc::not_found);
}

namespace {

/// The pid of the server process serving the store's connection.
int store_backend_pid(const postgres_server& server) {
  postgres_options opts;
  opts.hosts = {{"127.0.0.1", server.port()}};
  opts.user = "postgres";
  opts.dbname = "postgres";
  postgres_connection probe{opts, nullptr};
  auto rows = probe.exec("SELECT pid FROM pg_stat_activity WHERE "
                         "application_name = 'solver-state' AND "
                         "pid <> pg_backend_pid()");
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  return std::stoi(std::string{rows->bytes(0, 0)});
}

} // namespace

TEST_CASE("postgresql: connection lost mid-pipeline: every op of the batch "
          "is backend_unavailable, then the store recovers") {
  postgres_server server; // its own: this test crashes a server process
  auto stores = open_stores(server.url() + "?timeout_ms=10000");
  auto& s = *stores[0];
  auto now = wall_ms();
  REQUIRE(s.set(set_request{"state:l:k", "before", 0, {}}, 0, now));
  auto pid = store_backend_pid(server);
  ::kill(pid, SIGSTOP); // the batch goes out, no reply comes
  std::vector<pending_op> ops;
  for (int i = 0; i < 50; ++i) {
    ops.push_back(set_op("state:l:" + std::to_string(i), "v"));
    ops.push_back(get_op("state:l:k"));
  }
  std::thread batch{[&] { s.apply(ops, now); }};
  std::this_thread::sleep_for(300ms);
  ::kill(pid, SIGKILL); // the connection dies mid-pipeline
  batch.join();
  for (size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i);
    CHECK(code(ops[i]) == state_errc::backend_unavailable);
  }
  // The postmaster restarts its backends after the crash; the store
  // reconnects after its backoff pause, and nothing of the lost batch
  // became visible (it never committed).
  bool recovered = wait_until(
    [&] {
      std::vector<pending_op> probe;
      probe.push_back(set_op("state:l:k", "after"));
      probe.push_back(get_op("state:l:k"));
      probe.push_back(get_op("state:l:0"));
      s.apply(probe, wall_ms());
      return code(probe[0]) == state_errc::none && probe[1].got
             && probe[1].got->value == "after"
             && code(probe[2]) == state_errc::not_found;
    },
    30s);
  CHECK(recovered);
}
