// Connection strings: the generic parser, what the Redis and PostgreSQL
// plugins accept, and that the service refuses a bad state.type at start-up.

#include <fstream>

#include <catch2/catch.hpp>

#include "backends/connection_url.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "backends/postgres/options.hpp"
#include "backends/redis/options.hpp"
#include "messages/errors.hpp"
#include "tests/support/server_process.hpp"

using namespace solver_state;

TEST_CASE("a full connection URL is split into its parts") {
  auto url = parse_connection_url(
    "redis://us%40er:p%3Ass@cache.local:6380/2?prefix=svc%3A&x=");
  REQUIRE(url);
  CHECK(url->scheme == "redis");
  CHECK(url->user == "us@er");
  CHECK(url->password == "p:ss");
  CHECK(url->has_password);
  CHECK(url->host == "cache.local");
  CHECK(url->port == 6380);
  CHECK(url->path == "2");
  CHECK(url->option("prefix") == "svc:");
  CHECK(url->option("x", "fallback").empty());
  CHECK(url->option("missing", "fallback") == "fallback");
}

TEST_CASE("IPv6 hosts and absent parts") {
  auto url = parse_connection_url("postgresql://[::1]:5433");
  REQUIRE(url);
  CHECK(url->host == "::1");
  CHECK(url->port == 5433);
  CHECK(url->path.empty());
  CHECK_FALSE(url->has_password);
  auto bare = parse_connection_url("redis://localhost");
  REQUIRE(bare);
  CHECK(bare->port == 0);
}

TEST_CASE("malformed connection URLs are refused with a reason") {
  for (auto bad : {"redis:/localhost", "://h", "redis://", "redis://:6379",
                   "redis://h:0", "redis://h:65536", "redis://h:12ab",
                   "redis://h:", "redis://[::1", "redis://h/%zz",
                   "redis://h?a=1&a=2", "redis://h h", "1redis://h"}) {
    INFO(bad);
    auto url = parse_connection_url(bad);
    REQUIRE_FALSE(url);
    CHECK(code_of(url.error()) == state_errc::bad_request);
    CHECK_FALSE(message_of(url.error()).empty());
  }
}

TEST_CASE("redis URLs") {
  auto opts = parse_redis_url(
    "redis://:secret@127.0.0.1:7000/3?prefix=a:&timeout_ms=250");
  REQUIRE(opts);
  CHECK(opts->password == "secret");
  CHECK(opts->port == 7000);
  CHECK(opts->db == 3);
  CHECK(opts->prefix == "a:");
  CHECK(opts->command_timeout == std::chrono::milliseconds{250});
  auto defaults = parse_redis_url("redis://h");
  REQUIRE(defaults);
  CHECK(defaults->port == 6379);
  CHECK(defaults->db == 0);
  for (auto bad : {"redis://h/x", "redis://h?prefx=a", "redis://h?timeout_ms=0",
                   "redis://h?timeout_ms=fast", "redis://user@h",
                   "postgresql://u@h/db"}) {
    INFO(bad);
    CHECK_FALSE(parse_redis_url(bad));
  }
}

TEST_CASE("postgresql URLs") {
  auto opts = parse_postgres_url(
    "postgresql://app:pw@db:5433/state?table=kv_1&connect_timeout_ms=3000");
  REQUIRE(opts);
  CHECK(opts->user == "app");
  CHECK(opts->password == "pw");
  REQUIRE(opts->hosts.size() == 1);
  CHECK(opts->hosts[0] == std::make_pair(std::string{"db"}, uint16_t{5433}));
  CHECK(opts->dbname == "state");
  CHECK(opts->table == "kv_1");
  CHECK(opts->connect_timeout == std::chrono::milliseconds{3000});
  CHECK(opts->target_session_attrs == "read-write");
  for (auto bad : {"postgresql://h/db", "postgresql://u@h",
                   "postgresql://u@h/db?table=Bad", "postgresql://u@h/db?table=x;drop",
                   "postgresql://u@h/db?tabel=x", "redis://u@h/db",
                   "postgresql://u@h/db?target_session_attrs=standby",
                   "postgresql://u@a,,b/db"}) {
    INFO(bad);
    CHECK_FALSE(parse_postgres_url(bad));
  }
}

TEST_CASE("a postgresql URL lists a primary and its standbys") {
  auto opts = parse_postgres_url("postgresql://app@db-a:5433,db-b,[::1]:6000/"
                                 "state?target_session_attrs=primary");
  REQUIRE(opts);
  using host = std::pair<std::string, uint16_t>;
  CHECK(opts->hosts
        == std::vector<host>{{"db-a", 5433}, {"db-b", 5432}, {"::1", 6000}});
  CHECK(opts->target_session_attrs == "primary");
  CHECK(opts->server_name() == "db-a:5433,db-b:5432,::1:6000");
}

TEST_CASE("redis-sentinel URLs name the Sentinels and the master") {
  auto opts = parse_redis_url(
    "redis-sentinel://:pw@s1:26380,s2,[::1]:26381/mymaster/2"
    "?wait_replicas=1&wait_timeout_ms=500&sentinel_password=sp&prefix=p:");
  REQUIRE(opts);
  using host = std::pair<std::string, uint16_t>;
  CHECK(opts->sentinels
        == std::vector<host>{{"s1", 26380}, {"s2", 26379}, {"::1", 26381}});
  CHECK(opts->master_name == "mymaster");
  CHECK(opts->db == 2);
  CHECK(opts->password == "pw");
  CHECK(opts->sentinel_password == "sp");
  CHECK(opts->wait_replicas == 1);
  CHECK(opts->wait_timeout == std::chrono::milliseconds{500});
  CHECK(opts->prefix == "p:");
  CHECK(opts->server_name() == "redis master mymaster (via 3 sentinels)");
  auto no_db = parse_redis_url("redis-sentinel://s1/m");
  REQUIRE(no_db);
  CHECK(no_db->db == 0);
  CHECK(no_db->wait_replicas == 0);
  // WAIT on a plain server with replicas works the same.
  auto plain = parse_redis_url("redis://h/0?wait_replicas=2");
  REQUIRE(plain);
  CHECK(plain->wait_replicas == 2);
  CHECK(plain->sentinels.empty());
  for (auto bad : {"redis-sentinel://s1", "redis-sentinel://s1/",
                   "redis-sentinel://s1/m/x", "redis://a,b/0",
                   "redis://h/0?sentinel_password=x",
                   "redis-sentinel://s1/m?wait_replicas=65",
                   "redis-sentinel://s1/m?wait_replicas=1&wait_timeout_ms=0",
                   // WAIT would outlast the command timeout.
                   "redis-sentinel://s1/m?wait_replicas=1&wait_timeout_ms=3000"
                   "&timeout_ms=2000"}) {
    INFO(bad);
    auto r = parse_redis_url(bad);
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == state_errc::bad_request);
  }
}

TEST_CASE("a list of hosts is refused where one server is reached") {
  auto url = parse_connection_url("redis://a:1,b:2/0");
  REQUIRE(url);
  CHECK(url->hosts.size() == 2);
  CHECK(url->host == "a");
  CHECK(url->port == 1);
  CHECK(reject_host_list(*url));
  CHECK_FALSE(parse_redis_url("redis://a:1,b:2/0"));
  CHECK_FALSE(parse_connection_url("redis://a:1,/0"));
  state_config cfg;
  cfg.type = "dynamodb://a:1,b:2/table";
  auto problems = check_state_config(compiled_plugins(), cfg);
  CHECK_FALSE(problems.empty());
}

TEST_CASE("state.type picks the plugin by scheme") {
  auto& registry = compiled_plugins();
  REQUIRE(registry.find("redis://127.0.0.1:1/0"));
  CHECK(registry.find("redis://127.0.0.1:1/0")->name() == "redis");
  CHECK(registry.find("redis://127.0.0.1:1/0")->blocking());
  REQUIRE(registry.find("postgresql://u@127.0.0.1:1/db"));
  CHECK(registry.find("postgresql://u@127.0.0.1:1/db")->blocking());
  CHECK(registry.find("memcached://h") == nullptr);
  REQUIRE(registry.find("redis-sentinel://s:1/m"));
  CHECK(registry.find("redis-sentinel://s:1/m")->blocking());
  state_config cfg;
  cfg.type = "redis://127.0.0.1:1/zero";
  auto stores = registry.find(cfg.type)->create_stores(cfg);
  REQUIRE_FALSE(stores);
  CHECK(message_of(stores.error()).find("database") != std::string::npos);
}

TEST_CASE("watches=local makes a shared engine's store read no change "
          "feed, and is its only value") {
  auto& registry = compiled_plugins();
  for (std::string url : {"redis://127.0.0.1:1/0", "postgresql://u@h:1/db"}) {
    INFO(url);
    state_config cfg;
    cfg.type = url;
    CHECK(registry.find(url)->watches(cfg).source == watch_support::engine_feed);
    cfg.type = url + "?watches=local";
    CHECK(registry.find(url)->watches(cfg).source == watch_support::shards);
    CHECK_FALSE(registry.find(url)->check(cfg));
    cfg.type = url + "?watches=all";
    auto refused = registry.find(url)->check(cfg);
    REQUIRE(refused);
    CHECK_THAT(message_of(refused), Catch::Contains("watches must be local"));
  }
  auto redis = parse_redis_url("redis://h?watches=local&prefix=p:");
  REQUIRE(redis);
  CHECK(redis->local_watches);
  auto postgres = parse_postgres_url("postgresql://u@h/db");
  REQUIRE(postgres);
  CHECK_FALSE(postgres->local_watches);
}

namespace {

/// Runs build/solver-state --config with `type` as state.type; its exit
/// status, and its output in `output`.
int run_service_with(const std::string& type, std::string& output) {
  testing::temp_dir dir{"badurl"};
  auto config = dir.path() + "/config.yaml";
  std::ofstream{config} << "state:\n  type: \"" << type
                        << "\"\nhttp:\n  listen: 127.0.0.1:0\n";
  auto log = dir.path() + "/out.log";
  auto rc = testing::run_command(
    {SOLVER_STATE_BINARY_DIR "/solver-state", "--config", config}, log);
  output = testing::read_text(log);
  return rc;
}

} // namespace

TEST_CASE("the service refuses a bad state.type at start-up, naming it") {
  for (auto type : {"redis://127.0.0.1:notaport/0", "memcached://127.0.0.1:1",
                    "postgresql://127.0.0.1:5432/db?table=a-b"}) {
    INFO(type);
    std::string output;
    auto rc = run_service_with(type, output);
    INFO(output);
    CHECK(rc != 0);
    CHECK(output.find("state.type") != std::string::npos);
  }
}

TEST_CASE("passwords never reach logs or error messages") {
  CHECK(redact_password("redis://:secret@127.0.0.1:6379/0")
        == "redis://:***@127.0.0.1:6379/0");
  CHECK(redact_password("postgresql://user:pw@h:5432/db")
        == "postgresql://user:***@h:5432/db");
  CHECK(redact_password("postgresql://user@h:5432/db")
        == "postgresql://user@h:5432/db");
  CHECK(redact_password("dynamodb://h:8000/t?x=a@b")
        == "dynamodb://h:8000/t?x=a@b");
  CHECK(redact_password("memory") == "memory");
  CHECK(redact_password("redis-sentinel://:pw@s1,s2/m?sentinel_password=sp"
                        "&prefix=a")
        == "redis-sentinel://:***@s1,s2/m?sentinel_password=***&prefix=a");
  CHECK(redact_password("redis-sentinel://s1/m?prefix=a&sentinel_password=sp")
        == "redis-sentinel://s1/m?prefix=a&sentinel_password=***");
}
