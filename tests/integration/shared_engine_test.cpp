// Two solver-state processes on one Redis and on one PostgreSQL (shared-
// engine mode): conditional writers through both lose no update, because
// the engine decides every condition; a SIGKILLed node loses nothing it
// acknowledged, and the other serves every key.

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/redis_server.hpp"

using namespace solver_state::testing;

namespace {

std::string config_for(const std::string& type) {
  return "state:\n  type: \"" + type + "\"\n  shards: 2\n";
}

/// Increments `key` through `port` `times` times, each a read then a PUT
/// with If-Match on the version read, retried on 412; returns how many
/// increments were acknowledged (all of them, or fewer on other errors).
int increment(uint16_t port, const std::string& key, int times) {
  http_client client{port};
  int done = 0;
  for (int attempts = 0; done < times && attempts < times * 50; ++attempts) {
    auto got = client.get("/v1/state/" + key);
    if (got.status != 200)
      continue;
    auto next = std::to_string(std::stol(got.body) + 1);
    auto put = client.put("/v1/state/" + key, next,
                          {{"If-Match", got.header("etag")}});
    if (put.status == 204)
      ++done;
  }
  return done;
}

/// Two nodes on `type`: 2 writers each increment one counter.
void check_no_lost_update(const std::string& type) {
  service_process a{config_for(type)};
  service_process b{config_for(type)};
  http_client setup{a.port()};
  auto key = "state:{shared}:counter";
  REQUIRE(setup.put(std::string{"/v1/state/"} + key, "0").status / 100 == 2);
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> writers;
  for (auto port : {a.port(), a.port(), b.port(), b.port()})
    writers.emplace_back(
      [&, port] { acknowledged += increment(port, key, 150); });
  for (auto& w : writers)
    w.join();
  CHECK(acknowledged == 600);
  // Every acknowledged increment is in the value, read through either node.
  CHECK(http_client{b.port()}.get(std::string{"/v1/state/"} + key).body
        == std::to_string(acknowledged.load()));
  CHECK(http_client{a.port()}.get(std::string{"/v1/state/"} + key).body
        == std::to_string(acknowledged.load()));
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

} // namespace

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
