// GET /v1/watch against the real service, read by a real SSE client over
// loopback: every change under the prefix in order (expiries and
// transactions included), resuming with Last-Event-ID, resync when the
// position is gone, the errors of a bad request, a client that stops
// reading dropped while the service's memory stays flat, and a shutdown
// that does not wait for open streams.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/sse_client.hpp"
#include "util/base64.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

const char* memory_yaml = "state:\n  type: memory\n  shards: 4\n"
                          "  sweep_interval: 100ms\n";

/// "event:key:value" of each event (value decoded; "" without one).
std::vector<std::string> summary(const std::vector<sse_event>& events) {
  std::vector<std::string> out;
  for (auto& ev : events) {
    if (ev.event == "resync") {
      out.push_back("resync");
      continue;
    }
    auto data = json::parse(ev.data).as_object();
    std::string value;
    if (auto* v = data.if_contains("value"))
      value = base64_decode(std::string{v->as_string()}).value_or("?");
    out.push_back(ev.event + ":" + std::string{data.at("key").as_string()}
                  + ":" + value);
  }
  return out;
}

size_t rss_bytes(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024;
  return 0;
}

/// The value of metric `name` (no labels) on /metrics, or -1.
double metric(http_client& c, const std::string& name) {
  auto text = c.get("/metrics").body;
  auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1
                                 : std::stod(text.substr(at + name.size() + 2));
}

/// Polls `done` every 50 ms for up to `limit`.
bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

} // namespace

TEST_CASE("a watch streams every change under its prefix as server-sent "
          "events, in order, expiries and transactions included") {
  service_process svc{memory_yaml};
  http_client c{svc.port()};
  sse_client watch{svc.port(), "/v1/watch?prefix=w%3A"};
  REQUIRE(watch.status() == 200);
  CHECK(watch.header("content-type") == "text/event-stream");
  CHECK(watch.header("cache-control") == "no-cache");
  REQUIRE(watch.wait_subscribed());
  REQUIRE(c.put("/v1/state/w:a", "1").status == 201);
  REQUIRE(c.put("/v1/state/other", "x").status == 201);
  auto second = c.put("/v1/state/w:a", "2");
  REQUIRE(second.status == 204);
  REQUIRE(c.del("/v1/state/w:a").status == 204);
  auto txn = c.request("POST", "/v1/state/transaction",
                       R"({"operations":[{"op":"set","key":"w:{t}x","value":")"
                         + base64_encode("tx") + R"("},)"
                         + R"({"op":"set","key":"w:{t}y","value":")"
                         + base64_encode("ty") + R"("}]})");
  REQUIRE(txn.status == 200);
  REQUIRE(c.put("/v1/state/w:ttl?ttl_seconds=1", "soon").status == 201);
  REQUIRE(watch.wait_events(7));
  auto events = watch.events();
  // What the API promises with 4 shards: every change of a key in commit
  // order, a transaction's writes together; changes of keys on different
  // shards may interleave in any order (here w:a, w:{t} and w:ttl may sit
  // on three shards), so the order across keys is not checked.
  auto got = summary(events);
  auto of_key = [&](const std::string& key) {
    std::vector<std::string> out;
    for (size_t i = 0; i < events.size(); ++i)
      if (json::parse(events[i].data).as_object().at("key").as_string() == key)
        out.push_back(got[i]);
    return out;
  };
  CHECK(of_key("w:a")
        == std::vector<std::string>{"put:w:a:1", "put:w:a:2", "delete:w:a:"});
  CHECK(of_key("w:ttl")
        == std::vector<std::string>{"put:w:ttl:soon", "expire:w:ttl:"});
  auto tx = std::find(got.begin(), got.end(), "put:w:{t}x:tx");
  REQUIRE(tx != got.end());
  REQUIRE(tx + 1 != got.end());
  CHECK(*(tx + 1) == "put:w:{t}y:ty");
  CHECK(got.size() == 7); // "other" is not under the prefix
  // The etag of a put is the one the write answered; ids name positions.
  auto second_at = std::find(got.begin(), got.end(), "put:w:a:2")
                   - got.begin();
  auto data = json::parse(events[second_at].data).as_object();
  CHECK(std::string{data.at("etag").as_string()} == second.header("etag"));
  auto delete_at = std::find(got.begin(), got.end(), "delete:w:a:")
                   - got.begin();
  CHECK(json::parse(events[delete_at].data).as_object().at("etag").is_null());
  for (auto& ev : events)
    CHECK(ev.id.find('-') != std::string::npos);
}

TEST_CASE("a watch resumes after Last-Event-ID, and says resync when the "
          "position is gone") {
  service_process svc{std::string{memory_yaml}
                      + "  watch:\n    history_events: 50\n"};
  http_client c{svc.port()};
  std::string last_id;
  {
    sse_client watch{svc.port(), "/v1/watch?prefix=r:"};
    REQUIRE(watch.wait_subscribed());
    REQUIRE(c.put("/v1/state/r:1", "1").status == 201);
    REQUIRE(watch.wait_events(1));
    last_id = watch.events().back().id;
  }
  REQUIRE(c.put("/v1/state/r:2", "2").status == 201);
  REQUIRE(c.put("/v1/state/r:3", "3").status == 201);

  SECTION("the changes missed while away come first, then the new ones") {
    sse_client again{svc.port(), "/v1/watch?prefix=r:",
                     {{"Last-Event-ID", last_id}}};
    REQUIRE(again.wait_events(2));
    REQUIRE(c.put("/v1/state/r:4", "4").status == 201);
    REQUIRE(again.wait_events(3));
    CHECK(summary(again.events())
          == std::vector<std::string>{"put:r:2:2", "put:r:3:3", "put:r:4:4"});
  }
  SECTION("past the history's 50 changes: resync, then the new ones") {
    for (int i = 0; i < 60; ++i)
      REQUIRE(c.put("/v1/state/x:" + std::to_string(i), "x").status == 201);
    sse_client late{svc.port(), "/v1/watch?prefix=r:",
                    {{"Last-Event-ID", last_id}}};
    REQUIRE(late.wait_events(1));
    REQUIRE(c.put("/v1/state/r:5", "5").status == 201);
    REQUIRE(late.wait_events(2));
    CHECK(summary(late.events())
          == std::vector<std::string>{"resync", "put:r:5:5"});
  }
}

TEST_CASE("a watch gives its position at the start, so a client that "
          "reconnects before any change under its prefix misses none") {
  // The stream gave no id until its first event: EventSource reconnected
  // without Last-Event-ID, from "now", and lost what came meanwhile.
  service_process svc{memory_yaml};
  http_client c{svc.port()};
  std::string start_id;
  {
    sse_client watch{svc.port(), "/v1/watch?prefix=n:"};
    REQUIRE(watch.wait_subscribed());
    REQUIRE(eventually([&] { return !watch.last_event_id().empty(); }, 5s));
    start_id = watch.last_event_id();
    CHECK(watch.events().empty()); // a position, not an event
  }
  REQUIRE(c.put("/v1/state/other", "x").status == 201);
  REQUIRE(c.put("/v1/state/n:1", "1").status == 201);
  sse_client again{svc.port(), "/v1/watch?prefix=n:",
                   {{"Last-Event-ID", start_id}}};
  REQUIRE(again.wait_events(1));
  CHECK(summary(again.events()) == std::vector<std::string>{"put:n:1:1"});
}

TEST_CASE("a bad watch request is refused with a clear error") {
  service_process svc{memory_yaml};
  http_client c{svc.port()};
  auto unknown = c.get("/v1/watch?prefix=a&since=3");
  CHECK(unknown.status == 400);
  CHECK(unknown.body.find("since") != std::string::npos);
  auto bad_id = c.get("/v1/watch?prefix=a", {{"Last-Event-ID", "yesterday"}});
  CHECK(bad_id.status == 400);
  CHECK(bad_id.body.find("Last-Event-ID") != std::string::npos);
  auto wrong_method = c.request("POST", "/v1/watch", "");
  CHECK(wrong_method.status == 405);
}

TEST_CASE("watchers past state.watch.max_watchers are refused, and a closed "
          "stream frees its slot") {
  service_process svc{std::string{memory_yaml}
                      + "  watch:\n    max_watchers: 1\n    heartbeat: 200ms\n"};
  http_client c{svc.port()};
  {
    sse_client first{svc.port(), "/v1/watch"};
    REQUIRE(first.wait_subscribed());
    sse_client second{svc.port(), "/v1/watch"};
    CHECK(second.status() == 507);
    CHECK(error_code_of(second.body()) == "capacity_exceeded");
    CHECK(second.body().find("max_watchers") != std::string::npos);
  }
  // The first client left: the service sees its connection close (a read
  // waits on it while it streams) and ends its stream.
  bool admitted = eventually(
    [&] {
      sse_client again{svc.port(), "/v1/watch"};
      return again.status() == 200;
    },
    10s);
  CHECK(admitted);
}

TEST_CASE("a client that leaves frees its watcher and connection at once, "
          "not at a later heartbeat") {
  // The heartbeat written after the client's FIN succeeds; only the one
  // after it failed: the slot stayed taken (507 to every new watch) and
  // the socket sat in CLOSE-WAIT for two heartbeats.
  service_process svc{std::string{memory_yaml}
                      + "  watch:\n    max_watchers: 1\n    heartbeat: 5s\n"};
  http_client c{svc.port()};
  {
    sse_client first{svc.port(), "/v1/watch"};
    REQUIRE(first.wait_subscribed());
  }
  auto left = std::chrono::steady_clock::now();
  bool admitted = eventually(
    [&] {
      sse_client again{svc.port(), "/v1/watch"};
      return again.status() == 200;
    },
    1500ms);
  INFO("admitted after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - left)
            .count()
       << " ms");
  CHECK(admitted);
}

TEST_CASE("a watch stream whose client sends bytes after its request goes on") {
  // An SSE client sends nothing more; bytes that come anyway (a pipelined
  // request) wait, unread by the stream, for its end.
  service_process svc{std::string{memory_yaml}
                      + "  watch:\n    heartbeat: 200ms\n"};
  raw_socket s{svc.port()};
  REQUIRE(s.send("GET /v1/watch HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  REQUIRE(s.receive(1s).find("200 OK") != std::string::npos);
  REQUIRE(s.send("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto later = s.receive(1s);
  CHECK(later.find(": heartbeat") != std::string::npos);
  CHECK(!s.closed_by_peer(300ms));
}

TEST_CASE("a client that stops reading is told to resync and dropped, and the "
          "service's memory stays flat") {
  service_process svc{std::string{memory_yaml}
                      + "  watch:\n    history_bytes: 16777216\n"};
  http_client c{svc.port()};
  // Reads the answer's first bytes, then nothing more.
  raw_socket stalled{svc.port()};
  REQUIRE(stalled.send("GET /v1/watch?prefix=big: HTTP/1.1\r\n"
                       "Host: 127.0.0.1\r\n\r\n"));
  REQUIRE(stalled.receive(2s).find("200 OK") != std::string::npos);
  // A live reader of the same prefix, for comparison.
  sse_client live{svc.port(), "/v1/watch?prefix=big:"};
  REQUIRE(live.wait_subscribed());
  auto before = rss_bytes(svc.pid());
  // 256 MiB of changes through a 16 MiB history.
  std::string value(64 * 1024, 'v');
  for (size_t i = 0; i < 4096; ++i) {
    REQUIRE(c.put("/v1/state/big:" + std::to_string(i % 16), value).status
            < 300);
    // The live reader may lag, but not by the history's 256 changes: a
    // writer faster than any reader would drop it too.
    if (i % 64 == 63)
      REQUIRE(live.wait_events(i - 63, 30s));
  }
  live.wait_events(4096, 60s);
  {
    auto got = live.events();
    INFO("live got " << got.size() << " events, last "
                     << (got.empty() ? "" : got.back().event));
    REQUIRE(got.size() == 4096);
  }
  auto after = rss_bytes(svc.pid());
  INFO("resident before " << before << " bytes, after " << after);
  CHECK(after < before + (64u << 20));
  for (auto& ev : live.events())
    CHECK(ev.event == "put");
  // The stalled stream was dropped: one resync counted, one watcher left.
  REQUIRE(eventually([&] { return metric(c, "solver_state_watchers") == 1; },
                     10s));
  CHECK(metric(c, "solver_state_watch_resyncs_total") == 1);
  CHECK(stalled.closed_by_peer(70s));
}

TEST_CASE("a service with open watches stops without waiting for them") {
  service_process svc{memory_yaml};
  sse_client watch{svc.port(), "/v1/watch"};
  REQUIRE(watch.wait_subscribed());
  auto started = std::chrono::steady_clock::now();
  CHECK(svc.stop(SIGTERM) == 0);
  // The drain waits up to 10 s for busy connections; a watch is not one.
  CHECK(std::chrono::steady_clock::now() - started < 8s);
  CHECK(watch.wait_ended());
}
