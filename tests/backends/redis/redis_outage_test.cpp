// The Redis backend when its server goes away: operations fail fast with
// backend_unavailable, the health check fails, the service stays up, and the
// same store recovers by itself once the server is back.

#include <memory>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/captured_log.hpp"
#include "tests/support/outage_probe.hpp"
#include "tests/support/pipeline_support.hpp"
#include "tests/support/query_checks.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/watch_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

TEST_CASE("redis outage: fail fast, unhealthy, then recover without restart") {
  redis_server server;
  check_outage_and_recovery(
    server, server.url("outage:") + "&timeout_ms=500&connect_timeout_ms=500",
    false, 15s);
}

TEST_CASE("redis hung server: a command times out as backend_unavailable") {
  testing::redis_server server;
  running_store store{server.url("hung:")
                      + "&timeout_ms=300&connect_timeout_ms=300"};
  testing::outage_probe probe{*store.sys, store.handles.router};
  REQUIRE(probe.put("state:h:1") == state_errc::none);
  server.pause();
  CHECK(probe.put("state:h:1") == state_errc::backend_unavailable);
  CHECK(probe.health() == state_errc::backend_unavailable);
  server.resume();
  CHECK(testing::wait_until(
    [&] { return probe.put("state:h:1") == state_errc::none; }, 10s));
  CHECK(probe.get("state:h:1") == state_errc::none);
}

TEST_CASE("redis unreachable at start-up: the store starts unhealthy") {
  auto port = testing::free_loopback_port();
  running_store store{"redis://127.0.0.1:" + std::to_string(port)
                      + "/0?connect_timeout_ms=300"};
  testing::outage_probe probe{*store.sys, store.handles.router};
  CHECK(probe.health() == state_errc::backend_unavailable);
  CHECK(probe.put("state:u:1") == state_errc::backend_unavailable);
}

TEST_CASE("redis outage: the first operation after a reconnect selects the "
          "database and runs") {
  // SELECT (and AUTH) run when the connection is made, which may happen
  // inside a single operation's command: it must go out after them.
  redis_server server;
  auto url = server.url("reselect:");
  url.replace(url.find("/0?"), 3, "/3?");
  url += "&connect_timeout_ms=500";
  auto stores = open_stores(url);
  auto& s = *stores[0];
  REQUIRE(s.set(set_request{"state:r:k", "v", 0, condition::always()}, 0,
                wall_ms()));
  server.kill();
  server.restart(); // empty: no persistence
  REQUIRE(server.cli({"-n", "3", "SET", "reselect:v:state:r:k",
                      "7:0:after"})
          == 0);
  // Until the backoff allows a reconnect, reads fail fast; the read that
  // reconnects must be answered from database 3.
  caf::expected<entry> got = caf::error{};
  REQUIRE(wait_until(
    [&] {
      got = s.get("state:r:k", wall_ms());
      return got || code_of(got.error()) != state_errc::backend_unavailable;
    },
    15s));
  INFO((got ? std::string{} : message_of(got.error())));
  REQUIRE(got);
  CHECK(got->value == "after");
  CHECK(got->version == 7);
}

TEST_CASE("redis with a password: AUTH on every connect, also after a "
          "restart, and a wrong password says so") {
  redis_server server{"s3cret pass"};
  auto url = server.url("auth:") + "&connect_timeout_ms=500";
  // The URL carries the password percent-encoded.
  url.replace(url.find("s3cret pass"), 11, "s3cret%20pass");
  auto stores = open_stores(url);
  auto& s = *stores[0];
  REQUIRE(s.set(set_request{"state:a:k", "v", 0, condition::always()}, 0,
                wall_ms()));
  server.kill();
  server.restart();
  caf::expected<write_result> again = caf::error{};
  REQUIRE(wait_until(
    [&] {
      again = s.set(set_request{"state:a:k", "w", 0, condition::always()}, 0,
                    wall_ms());
      return again
             || code_of(again.error()) != state_errc::backend_unavailable;
    },
    15s));
  INFO((again ? std::string{} : message_of(again.error())));
  CHECK(again);
  CHECK(s.get("state:a:k", wall_ms())->value == "w");

  auto wrong = server.url("auth:");
  wrong.replace(wrong.find("s3cret pass"), 11, "wrong");
  auto bad = open_stores(wrong);
  auto err = bad[0]->get("state:a:k", wall_ms());
  REQUIRE_FALSE(err);
  CHECK(code_of(err.error()) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(err.error()), Catch::Contains("AUTH failed"));
}

TEST_CASE("redis frozen: the change feed notices a server that answers "
          "nothing, and its watchers resync once it is back") {
  redis_server server;
  running_store store{server.url("frozen:")
                      + "&timeout_ms=300&connect_timeout_ms=300"};
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*store.sys, store.handles.hub, log,
                            watch_request{"state:f:", false, 0, 0});
  REQUIRE(started);
  std::this_thread::sleep_for(500ms);
  size_t before = 0;
  log->wait_for([&] {
    before = log->resyncs.size();
    return true;
  });
  // Frozen (SIGSTOP): its socket stays open, it pushes nothing, it answers
  // nothing. Longer than a second of silence and a PING's timeout.
  server.pause();
  std::this_thread::sleep_for(3s);
  server.resume();
  REQUIRE(log->wait_for([&] { return log->resyncs.size() > before; }, 15s));
  CHECK_THAT(log->resyncs.back(), Catch::Contains("was lost for a while"));
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("redis feed lost: a key written again without a TTL meanwhile "
          "gets no expire event at its old TTL, and one written with a "
          "TTL meanwhile gets its event") {
  redis_server server;
  auto url = server.url("ttl:");
  running_store a{url, 1};
  running_store b{url, 1};
  auto log = std::make_shared<watch_log>();
  auto [w, started] = watch(*a.sys, a.handles.hub, log,
                            watch_request{"state:t:", false, 0, 0});
  REQUIRE(started);
  REQUIRE(a.ask<write_result>(put_atom_v,
                              set_request{"state:t:kept", "1", 1500, {}}));
  REQUIRE(log->wait_events(1));
  // Both nodes' feeds lose their connection; while a's is down (it
  // subscribes again after a pause), b writes the key again, for good, and
  // another with a TTL.
  REQUIRE(server.cli({"CLIENT", "KILL", "TYPE", "pubsub"}) == 0);
  REQUIRE(b.ask<write_result>(put_atom_v,
                              set_request{"state:t:kept", "2", 0, {}}));
  REQUIRE(b.ask<write_result>(put_atom_v,
                              set_request{"state:t:brief", "3", 1500, {}}));
  REQUIRE(log->wait_for([&] { return !log->resyncs.empty(); }, 10s));
  // Past both TTLs and a few sweeps.
  CHECK(log->wait_for(
    [&] {
      for (auto& ev : log->events)
        if (ev.key == "state:t:brief" && cause_of(ev) == "expire")
          return true;
      return false;
    },
    10s));
  std::this_thread::sleep_for(500ms);
  for (auto& ev : log->snapshot())
    CHECK_FALSE((ev.key == "state:t:kept" && cause_of(ev) == "expire"));
  auto kept = a.ask<entry>(get_atom_v, std::string{"state:t:kept"});
  REQUIRE(kept);
  CHECK(kept->value == "2");
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
}

TEST_CASE("redis hung server: a transaction whose reply never came was "
          "applied once the server woke, and the indexes of a lone "
          "instance read its keys back") {
  redis_server server;
  put_statuses(server.url("hungq:"), 1, {"q:a", "q:b"}, "filled");
  // No change feed: this instance's indexes learn only of its own writes.
  running_store store{query_config(server.url("hungq:")
                                     + "&timeout_ms=300&connect_timeout_ms=300"
                                       "&watches=local",
                                   1)};
  std::vector<std::string> found;
  REQUIRE(wait_until(
    [&] {
      found = keys_with_status(store, "filled");
      return found.size() == 2;
    },
    5s));
  // A transaction first, so that the one below is a single command: the
  // script loaded, a block of versions drawn.
  transaction_request warm;
  warm.ops.push_back(txn_op::put("w:1", "1"));
  REQUIRE(store.ask<transaction_reply>(transact_atom_v, warm));
  // Frozen: the script reaches its socket, no reply comes back in time, and
  // the server runs it once it wakes.
  server.pause();
  transaction_request txn;
  txn.ops.push_back(txn_op::put("q:a", R"({"status":"pending"})"));
  txn.ops.push_back(txn_op::put("q:b", R"({"status":"pending"})"));
  auto committed = store.ask<transaction_reply>(transact_atom_v, txn);
  server.resume();
  REQUIRE_FALSE(committed);
  CHECK(code_of(committed.error()) == state_errc::backend_unavailable);
  auto a = store.ask<entry>(get_atom_v, std::string{"q:a"});
  for (int i = 0; i < 50 && !a; ++i) { // the connection comes back
    std::this_thread::sleep_for(100ms);
    a = store.ask<entry>(get_atom_v, std::string{"q:a"});
  }
  REQUIRE(a);
  REQUIRE(a->value == R"({"status":"pending"})"); // applied after all
  CHECK(wait_until(
    [&] {
      found = keys_with_status(store, "pending");
      return found.size() == 2;
    },
    10s));
  CAPTURE(found);
}

TEST_CASE("redis at maxmemory: every kind of write is refused as "
          "insufficient_storage, saying OOM") {
  // With maxmemory-policy noeviction (the default) Redis refuses writes
  // once full. A plain set runs as MULTI..EXEC, whose EXECABORT does not
  // say why: the queued command's refusal must reach the caller.
  redis_server server;
  auto stores = open_stores(server.url("oom:"));
  auto& s = *stores[0];
  auto now = wall_ms();
  REQUIRE(s.set(set_request{"state:m:seed", "v", 0, condition::always()}, 0,
                now));
  REQUIRE(server.cli({"CONFIG", "SET", "maxmemory", "1"}) == 0);
  auto refused_for_memory = [](const caf::error& err) {
    INFO(message_of(err));
    return code_of(err) == state_errc::insufficient_storage
           && message_of(err).find("OOM") != std::string::npos;
  };

  auto plain = s.set(set_request{"state:m:1", "v", 0, condition::always()}, 0,
                     now);
  REQUIRE_FALSE(plain);
  CHECK(refused_for_memory(plain.error()));

  auto create = s.set(set_request{"state:m:2", "v", 0, condition::absent()},
                      0, now);
  REQUIRE_FALSE(create);
  CHECK(refused_for_memory(create.error()));

  std::vector<pending_op> batch;
  batch.push_back(set_op("state:m:3", "v"));
  batch.push_back(set_op("state:m:4", "v", condition::absent()));
  s.apply(batch, now);
  for (auto& op : batch)
    CHECK(refused_for_memory(op.failure()));

  std::vector<pending_op> txn;
  txn.push_back(set_op("state:m:5", "v"));
  txn.push_back(set_op("state:m:6", "v"));
  auto err = s.transact(txn, now);
  REQUIRE(err);
  CHECK(refused_for_memory(err));

  // Reads go on, and nothing was written.
  CHECK(s.get("state:m:seed", now));
  CHECK_FALSE(s.get("state:m:1", now));
  REQUIRE(server.cli({"CONFIG", "SET", "maxmemory", "0"}) == 0);
  CHECK(s.set(set_request{"state:m:1", "v", 0, condition::always()}, 0, now));
}

TEST_CASE("redis frozen: a connection counts only once the server answers, "
          "so the reconnect backoff grows") {
  // A frozen server's kernel still accepts TCP connections. Counting the
  // accept as "connected" reset the backoff at every attempt (a reconnect
  // every 50-100 ms, each costing a timeout, and "up again" in the log).
  redis_server server;
  auto stores =
    open_stores(server.url("frozen:") + "&timeout_ms=300&connect_timeout_ms=300");
  auto& s = *stores[0];
  REQUIRE(s.set(set_request{"state:f:1", "v", 0, condition::always()}, 0,
                wall_ms()));
  server.pause();
  std::string timed_out;
  long longest_pause = 0;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    auto r = s.get("state:f:1", wall_ms());
    REQUIRE_FALSE(r);
    auto text = message_of(r.error());
    CHECK(code_of(r.error()) == state_errc::backend_unavailable);
    if (text.find("no answer within 300 ms") != std::string::npos)
      timed_out = text;
    auto at = text.find("next reconnect in ");
    if (at != std::string::npos)
      longest_pause = std::max(
        longest_pause, std::stol(text.substr(at + sizeof "next reconnect in " - 1)));
    std::this_thread::sleep_for(10ms);
  }
  server.resume();
  INFO("longest announced pause: " << longest_pause << " ms");
  CHECK_FALSE(timed_out.empty()); // not "Resource temporarily unavailable"
  CHECK(longest_pause > 250);
  CHECK(wait_until([&] { return bool{s.get("state:f:1", wall_ms())}; }, 10s));
}

TEST_CASE("redis whose maxmemory-policy evicts keys: the store warns at "
          "connect") {
  redis_server server;
  SECTION("allkeys-lru with a limit warns") {
    REQUIRE(server.cli({"CONFIG", "SET", "maxmemory", "100mb"}) == 0);
    REQUIRE(server.cli({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"})
            == 0);
    captured_log log;
    auto stores = open_stores(server.url("evict:"));
    REQUIRE(stores[0]->set(
      set_request{"state:e:1", "v", 0, condition::always()}, 0, wall_ms()));
    INFO(log.text());
    CHECK(log.count("maxmemory-policy allkeys-lru") >= 1);
    CHECK(log.count("set maxmemory-policy noeviction") >= 1);
  }
  SECTION("noeviction, or no limit, does not") {
    REQUIRE(server.cli({"CONFIG", "SET", "maxmemory", "100mb"}) == 0);
    captured_log log;
    auto stores = open_stores(server.url("evict:"));
    REQUIRE(stores[0]->set(
      set_request{"state:e:1", "v", 0, condition::always()}, 0, wall_ms()));
    REQUIRE(server.cli({"CONFIG", "SET", "maxmemory", "0"}) == 0);
    REQUIRE(server.cli({"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"})
            == 0);
    auto more = open_stores(server.url("evict:"));
    REQUIRE(more[0]->set(
      set_request{"state:e:2", "v", 0, condition::always()}, 0, wall_ms()));
    INFO(log.text());
    CHECK(log.count("maxmemory-policy") == 0);
  }
}
