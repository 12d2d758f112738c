// The conformance suite against a real PostgreSQL cluster.

#include <catch2/catch.hpp>

#include "tests/support/conformance.hpp"
#include "tests/support/key_files.hpp"
#include "tests/support/postgres_server.hpp"

using namespace solver_state;

TEST_CASE("postgresql backend conforms to the StateStore contract") {
  auto& server = testing::shared_postgres();
  testing::conformance_target target;
  target.config.type = server.url();
  target.config.max_items = 0;
  target.reset = [&] { server.truncate(); };
  target.instances_share_data = true;
  testing::run_conformance(target);
}

TEST_CASE("postgresql backend conforms with compression and encryption on") {
  testing::key_files keys;
  auto& server = testing::shared_postgres();
  testing::conformance_target target;
  target.config.type = server.url();
  target.config.max_items = 0;
  testing::compress_and_encrypt(target.config, keys);
  target.reset = [&] { server.truncate(); };
  target.instances_share_data = true;
  testing::run_conformance(target);
}
