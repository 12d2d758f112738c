// Two solver-state processes on one Redis and on one PostgreSQL (shared-
// engine mode): conditional writers through both lose no update, because
// the engine decides every condition; a SIGKILLed node loses nothing it
// acknowledged, and the other serves every key; a watch on one node sees
// every change made through the other, in the engine's commit order, and
// is told to resync when its node lost the engine's change feed.

#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/key_files.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sse_client.hpp"
#include "util/base64.hpp"

using namespace solver_state::testing;
namespace json = boost::json;

namespace {

std::string config_for(const std::string& type) {
  return "state:\n  type: \"" + type + "\"\n  shards: 2\n";
}

/// What one writer's increments came to.
struct increments {
  int acknowledged = 0;
  /// Writes answered neither 204 nor 412 (a 504 under load): they may have
  /// been applied, so the counter may hold up to this many more.
  int unknown = 0;
};

/// Increments `key` through `port` `times` times, each a read then a PUT
/// with If-Match on the version read, retried on 412 and on an outcome it
/// cannot know.
increments increment(uint16_t port, const std::string& key, int times) {
  http_client client{port};
  increments out;
  for (int attempts = 0; out.acknowledged < times && attempts < times * 50;
       ++attempts) {
    auto got = client.get("/v1/state/" + key);
    if (got.status != 200)
      continue;
    auto next = std::to_string(std::stol(got.body) + 1);
    auto put = client.put("/v1/state/" + key, next,
                          {{"If-Match", got.header("etag")}});
    if (put.status == 204)
      ++out.acknowledged;
    else if (put.status != 412)
      ++out.unknown;
  }
  return out;
}

/// Two nodes on `type`: 2 writers each increment one counter.
void check_no_lost_update(const std::string& type) {
  service_process a{config_for(type)};
  service_process b{config_for(type)};
  http_client setup{a.port()};
  auto key = "state:{shared}:counter";
  REQUIRE(setup.put(std::string{"/v1/state/"} + key, "0").status / 100 == 2);
  std::atomic<int> acknowledged{0}, unknown{0};
  std::vector<std::thread> writers;
  for (auto port : {a.port(), a.port(), b.port(), b.port()})
    writers.emplace_back([&, port] {
      auto done = increment(port, key, 150);
      acknowledged += done.acknowledged;
      unknown += done.unknown;
    });
  for (auto& w : writers)
    w.join();
  CHECK(acknowledged == 600);
  // Every acknowledged increment is in the value, read through either node,
  // and nothing else but writes whose answer was lost (none on a quiet
  // machine; a 504 under load may still have been applied).
  INFO("writes of unknown outcome: " << unknown.load());
  for (auto port : {b.port(), a.port()}) {
    auto value =
      std::stol(http_client{port}.get(std::string{"/v1/state/"} + key).body);
    CHECK(value >= acknowledged.load());
    CHECK(value <= acknowledged.load() + unknown.load());
  }
}

/// Writes through node A, SIGKILLs it, reads every key through B.
void check_node_death_loses_nothing(const std::string& type) {
  service_process a{config_for(type)};
  service_process b{config_for(type)};
  http_client through_a{a.port()};
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) {
    auto key = "state:kill:" + std::to_string(i);
    if (through_a.put("/v1/state/" + key, "v" + std::to_string(i)).status
          / 100
        == 2)
      keys.push_back(key);
  }
  REQUIRE(keys.size() == 300);
  a.stop(SIGKILL);
  http_client through_b{b.port()};
  size_t missing = 0;
  for (size_t i = 0; i < keys.size(); ++i)
    if (through_b.get("/v1/state/" + keys[i]).body
        != "v" + std::to_string(i))
      ++missing;
  CHECK(missing == 0);
  CHECK(through_b.put("/v1/state/state:kill:after", "x").status / 100 == 2);
}

/// One watch event, decoded.
struct seen_change {
  std::string event;
  std::string key;
  std::string value;
  uint64_t version = 0;
};

std::vector<seen_change> decoded(const std::vector<sse_event>& events) {
  std::vector<seen_change> out;
  for (auto& ev : events) {
    seen_change c{ev.event, {}, {}, 0};
    if (ev.event != "resync") {
      auto data = json::parse(ev.data).as_object();
      c.key = std::string{data.at("key").as_string()};
      if (auto* v = data.if_contains("value"))
        c.value = solver_state::base64_decode(std::string{v->as_string()})
                    .value_or("?");
      if (data.at("etag").is_string()) {
        auto etag = std::string{data.at("etag").as_string()};
        c.version = std::stoull(etag.substr(1, etag.size() - 2));
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

size_t count_of(const std::vector<seen_change>& seen, const std::string& key,
                const std::string& event) {
  size_t n = 0;
  for (auto& c : seen)
    n += c.key == key && c.event == event;
  return n;
}

/// True once `done()` holds, checked every 20 ms for up to 10 s.
bool eventually(const std::function<bool()>& done) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (!done()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return true;
}

/// A watcher on node A, writers on both nodes: A's watcher gets every
/// change made through B, each acknowledged increment of a counter that
/// both nodes' writers race on in the engine's order (its values 0..N in
/// turn, its versions rising), a value too large for PostgreSQL's NOTIFY
/// payload byte for byte, and a delete. Then `cut_feed` kills the
/// engine-side connection of every node's feed: A's watcher is told to
/// resync, and changes made after it arrive again.
void check_watch_across_nodes(const std::string& type,
                              const std::function<void()>& cut_feed) {
  service_process a{config_for(type)};
  service_process b{config_for(type)};
  sse_client watch{a.port(), "/v1/watch?prefix=w:"};
  REQUIRE(watch.wait_subscribed());
  http_client through_b{b.port()};
  REQUIRE(through_b.put("/v1/state/w:counter", "0").status / 100 == 2);
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> writers;
  for (auto port : {a.port(), a.port(), b.port(), b.port()})
    writers.emplace_back(
      [&, port] {
        acknowledged += increment(port, "w:counter", 40).acknowledged;
      });
  for (auto& w : writers)
    w.join();
  REQUIRE(acknowledged == 160);
  std::string big(20'000, '\0');
  std::mt19937 random{7683};
  for (auto& c : big)
    c = static_cast<char>(random());
  REQUIRE(through_b.put("/v1/state/w:big", big).status / 100 == 2);
  REQUIRE(http_client{a.port()}.put("/v1/state/w:gone", "x").status / 100
          == 2);
  REQUIRE(through_b.del("/v1/state/w:gone").status == 204);
  REQUIRE(through_b.put("/v1/state/other", "not watched").status / 100 == 2);
  // 161 counter values, the big value, w:gone's put and delete.
  REQUIRE(watch.wait_events(164));
  auto seen = decoded(watch.events());
  // Versions are unique, not ordered across nodes (each Redis store takes
  // blocks of them): the values say the order.
  std::vector<std::string> counter_values;
  std::set<uint64_t> versions;
  for (auto& c : seen)
    if (c.key == "w:counter") {
      counter_values.push_back(c.value);
      versions.insert(c.version);
    }
  std::vector<std::string> expected;
  for (int i = 0; i <= 160; ++i)
    expected.push_back(std::to_string(i));
  CHECK(counter_values == expected);
  CHECK(versions.size() == counter_values.size());
  CHECK(count_of(seen, "w:big", "put") == 1);
  for (auto& c : seen)
    if (c.key == "w:big")
      CHECK(c.value == big);
  CHECK(count_of(seen, "w:gone", "put") == 1);
  CHECK(count_of(seen, "w:gone", "delete") == 1);
  CHECK(count_of(seen, "other", "put") == 0);
  CHECK(count_of(seen, "", "resync") == 0);

  cut_feed();
  REQUIRE(eventually([&] {
    return count_of(decoded(watch.events()), "", "resync") == 1;
  }));
  REQUIRE(through_b.put("/v1/state/w:after", "1").status / 100 == 2);
  REQUIRE(eventually([&] {
    return count_of(decoded(watch.events()), "w:after", "put") == 1;
  }));
  // The loss is counted, and the feed reads again.
  http_client metrics{a.port()};
  CHECK(eventually([&] {
    auto text = metrics.get("/metrics").body;
    return text.find("\nsolver_state_change_feed_losses_total 1\n")
             != std::string::npos
           && text.find("\nsolver_state_change_feed_up 1\n")
                != std::string::npos;
  }));
}

/// A config on `type` with zstd and AES-256-GCM under `key` (an entry of
/// `keys`).
std::string encrypted_config(const std::string& type,
                             const solver_state::encryption_key_config& key) {
  return config_for(type)
         + "  compression: {type: zstd, min_bytes: 64}\n"
           "  encryption: {primary: "
         + key.id + ", keys: [{id: " + key.id + ", file: \"" + key.file
         + "\"}]}\n";
}

} // namespace

TEST_CASE("shared redis with zstd and AES: a watch on one node gets the "
          "other's values as written, and a node without the key gets none "
          "and says so") {
  auto& redis = shared_redis();
  redis.flush();
  key_files keys;
  auto k1 = keys.hex_key("k1");
  auto other = keys.hex_key("k9");
  auto type = redis.url("enc:");
  service_process a{encrypted_config(type, k1)};
  service_process b{encrypted_config(type, k1)};
  service_process stranger{encrypted_config(type, other)};
  sse_client watch{a.port(), "/v1/watch?prefix=w:"};
  sse_client blind{stranger.port(), "/v1/watch?prefix=w:"};
  REQUIRE(watch.wait_subscribed());
  REQUIRE(blind.wait_subscribed());
  std::string value = R"({"marker":"PLAINTEXT-MARKER-5c1e","legs":[)";
  for (int i = 0; i < 20; ++i)
    value += R"({"chainId":1,"amount":"1000000"},)";
  value.back() = ']';
  value += "}";
  REQUIRE(http_client{b.port()}.put("/v1/state/w:order", value).status == 201);
  REQUIRE(watch.wait_events(1));
  auto seen = decoded(watch.events());
  CHECK(seen.at(0).key == "w:order");
  CHECK(seen.at(0).value == value);
  // Redis holds it compressed and encrypted.
  std::string out;
  REQUIRE(run_command("redis-cli -p " + std::to_string(redis.port())
                        + " --no-raw GET 'enc:v:w:order'",
                      out)
          == 0);
  CHECK(out.size() > 10);
  CHECK(out.find("PLAINTEXT-MARKER") == std::string::npos);
  // The node without k1 hands its watchers nothing it cannot read, and
  // says why: in its log, and to them, as a resync (they must not miss the
  // change silently).
  CHECK(eventually([&] {
    return stranger.log().find("could not be decoded") != std::string::npos;
  }));
  auto told_why = [&] {
    for (auto& ev : blind.events())
      if (ev.event == "resync"
          && ev.data.find("could not be decoded") != std::string::npos)
        return true;
    return false;
  };
  CHECK(eventually(told_why));
  for (auto& ev : blind.events())
    CHECK(ev.event == "resync");
}

TEST_CASE("shared redis: a watch on one node sees the other node's writes "
          "in commit order, and resyncs after a lost feed") {
  auto& redis = shared_redis();
  redis.flush();
  check_watch_across_nodes(redis.url("watch:"), [&] {
    REQUIRE(redis.cli({"CLIENT", "KILL", "TYPE", "pubsub"}) == 0);
  });
}

TEST_CASE("shared postgresql: a watch on one node sees the other node's "
          "writes in commit order, and resyncs after a lost feed") {
  auto& pg = shared_postgres();
  check_watch_across_nodes(pg.url() + "?table=shared_watch", [&] {
    REQUIRE(pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE application_name = 'solver-state feed'")
            == 0);
  });
}

TEST_CASE("shared redis: two nodes' conditional writers lose no update") {
  auto& redis = shared_redis();
  redis.flush();
  check_no_lost_update(redis.url("cas:"));
}

TEST_CASE("shared postgresql: two nodes' conditional writers lose no "
          "update") {
  auto& pg = shared_postgres();
  check_no_lost_update(pg.url() + "?table=shared_cas");
}

TEST_CASE("shared redis: a killed node loses nothing, the other serves "
          "every key") {
  auto& redis = shared_redis();
  redis.flush();
  check_node_death_loses_nothing(redis.url("kill:"));
}

TEST_CASE("shared postgresql: a killed node loses nothing, the other serves "
          "every key") {
  auto& pg = shared_postgres();
  check_node_death_loses_nothing(pg.url() + "?table=shared_kill");
}
