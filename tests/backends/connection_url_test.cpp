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
  CHECK(opts->host == "db");
  CHECK(opts->port == 5433);
  CHECK(opts->dbname == "state");
  CHECK(opts->table == "kv_1");
  CHECK(opts->connect_timeout == std::chrono::milliseconds{3000});
  for (auto bad : {"postgresql://h/db", "postgresql://u@h",
                   "postgresql://u@h/db?table=Bad", "postgresql://u@h/db?table=x;drop",
                   "postgresql://u@h/db?tabel=x", "redis://u@h/db"}) {
    INFO(bad);
    CHECK_FALSE(parse_postgres_url(bad));
  }
}

TEST_CASE("state.type picks the plugin by scheme") {
  auto& registry = compiled_plugins();
  REQUIRE(registry.find("redis://127.0.0.1:1/0"));
  CHECK(registry.find("redis://127.0.0.1:1/0")->name() == "redis");
  CHECK(registry.find("redis://127.0.0.1:1/0")->blocking());
  REQUIRE(registry.find("postgresql://u@127.0.0.1:1/db"));
  CHECK(registry.find("postgresql://u@127.0.0.1:1/db")->blocking());
  CHECK(registry.find("memcached://h") == nullptr);
  state_config cfg;
  cfg.type = "redis://127.0.0.1:1/zero";
  auto stores = registry.find(cfg.type)->create_stores(cfg);
  REQUIRE_FALSE(stores);
  CHECK(message_of(stores.error()).find("database") != std::string::npos);
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
}
