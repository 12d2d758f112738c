// The conformance suite against a real redis-server.

#include <catch2/catch.hpp>

#include "tests/support/conformance.hpp"
#include "tests/support/key_files.hpp"
#include "tests/support/redis_server.hpp"

using namespace solver_state;

TEST_CASE("redis backend conforms to the StateStore contract") {
  auto& server = testing::shared_redis();
  testing::conformance_target target;
  target.config.type = server.url("conformance:");
  target.config.max_items = 0;
  target.reset = [&] { server.flush(); };
  target.instances_share_data = true;
  testing::run_conformance(target);
}

TEST_CASE("redis backend conforms with compression and encryption on") {
  testing::key_files keys;
  auto& server = testing::shared_redis();
  testing::conformance_target target;
  target.config.type = server.url("conformance:");
  target.config.max_items = 0;
  testing::compress_and_encrypt(target.config, keys);
  target.reset = [&] { server.flush(); };
  target.instances_share_data = true;
  testing::run_conformance(target);
}
