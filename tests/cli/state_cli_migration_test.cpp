// Moving a store from the file backend to PostgreSQL with the client, as
// docs/cli.md tells an operator to: a service on the file backend and one
// on a real PostgreSQL, `solver-state-cli export | solver-state-cli import -`
// between them, and the two exports compared line by line (every key, its
// value byte for byte, its absolute expiry).

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/postgres_server.hpp"
#include "util/percent.hpp"

using namespace solver_state;
using namespace solver_state::testing;

namespace {

std::vector<std::string> lines_in(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// Runs the client with `args` (already shell-quoted) through /bin/sh.
int cli_sh(const std::string& args, std::string& output) {
  return run_command(std::string{"'"} + SOLVER_STATE_CLI + "' " + args,
                     output);
}

} // namespace

TEST_CASE("file backend to PostgreSQL: export | import keeps every key, "
          "value and expiry") {
  auto& pg = shared_postgres();
  pg.truncate();
  temp_dir dir{"cli-migration"};
  service_process file_store{"state:\n  type: file\n  file:\n    base_path: "
                             + dir.path() + "/state\n"};
  service_process pg_store{"state:\n  type: " + pg.url() + "\n"};
  auto from = "http://127.0.0.1:" + std::to_string(file_store.port());
  auto to = "http://127.0.0.1:" + std::to_string(pg_store.port());

  // Orders and fills, binary values (NUL bytes included), some with a TTL.
  constexpr int orders = 2000, fills = 1500;
  std::mt19937 rng{42};
  http_client http{file_store.port()};
  int with_ttl = 0;
  auto write = [&](const std::string& key, size_t size, bool ttl) {
    std::string value(size, '\0');
    for (auto& c : value)
      c = static_cast<char>(rng() % 256);
    value[size / 2] = '\0';
    auto target = "/v1/state/" + percent_encode(key)
                  + (ttl ? "?ttl_seconds=86400" : "");
    with_ttl += ttl ? 1 : 0;
    REQUIRE(http.put(target, value).status == 201);
  };
  for (int i = 0; i < orders; ++i)
    write("order:eip7683:0x" + std::to_string(1'000'000 + i), 64 + i % 200,
          i % 2 == 0);
  for (int i = 0; i < fills; ++i)
    write("fill:" + std::to_string(1'000'000 + i) + ":0", 16 + i % 50,
          i % 3 == 0);

  // The migration, through a pipe: neither side holds the whole store.
  std::string out;
  int rc = cli_sh("--url " + from + " export | '" SOLVER_STATE_CLI
                  "' --url " + to + " import - --chunk-bytes 65536",
                  out);
  INFO(out);
  REQUIRE(rc == 0);
  CHECK(out == "imported " + std::to_string(orders + fills)
                 + " keys, skipped 0 already expired\n");

  // The rows are in PostgreSQL, not anywhere else.
  CHECK(pg.sql("DO $$ BEGIN IF (SELECT count(*) FROM solver_state) <> "
               + std::to_string(orders + fills)
               + " THEN RAISE EXCEPTION 'wrong row count'; END IF; END $$")
        == 0);

  // Both exports, line by line: same keys in the same order, same values,
  // same absolute expires_at_ms.
  auto a = dir.path() + "/file.ndjson", b = dir.path() + "/postgres.ndjson";
  REQUIRE(cli_sh("--url " + from + " export -o " + a, out) == 0);
  REQUIRE(cli_sh("--url " + to + " export -o " + b, out) == 0);
  auto left = lines_in(a), right = lines_in(b);
  REQUIRE(left.size() == static_cast<size_t>(orders + fills));
  REQUIRE(right.size() == left.size());
  size_t expiring = 0;
  for (size_t i = 0; i < left.size(); ++i) {
    INFO("line " << i + 1);
    REQUIRE(left[i] == right[i]);
    if (left[i].find("\"expires_at_ms\":null") == std::string::npos)
      ++expiring;
  }
  CHECK(expiring == static_cast<size_t>(with_ttl));
}
