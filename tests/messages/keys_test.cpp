// Tests of the key rules: validation and typed key naming. Where keys are
// placed is tested in tests/backends/shard_placement_test.cpp.

#include <catch2/catch.hpp>

#include "messages/keys.hpp"

using namespace solver_state;

TEST_CASE("key validation") {
  CHECK(is_valid_key("order:eip7683:0x1"));
  CHECK(is_valid_key(std::string(1024, 'a')));
  CHECK(is_valid_key("unicode:\xc3\xa9"));
  CHECK_FALSE(is_valid_key(""));
  CHECK_FALSE(is_valid_key(std::string(1025, 'a')));
  CHECK_FALSE(is_valid_key(std::string{"a\0b", 3}));
  CHECK_FALSE(is_valid_key("a\x1f"));
  CHECK_FALSE(is_valid_key("a\x7f"));
  CHECK(key_problem("a\x01") == "key contains control byte 0x01 at offset 1");
}

TEST_CASE("typed keys follow the naming convention") {
  CHECK(order_key("eip7683", "0x1") == "order:eip7683:0x1");
  CHECK(orders_prefix("eip7683") == "order:eip7683:");
  CHECK(fill_key("0x1", "0xtx") == "fill:0x1:0xtx");
  CHECK(settlement_key("0x1", "0xc") == "settlement:0x1:0xc");
  CHECK(state_key("quoter", "a:b") == "state:quoter:a:b");
  CHECK(problem_of(order_ref{"a:b", "c"}) == "order_type contains ':'");
  CHECK(problem_of(fill_ref{"o", ""}) == "tx_hash is empty");
  CHECK(problem_of(component_key{"c", "k:with:colons"}).empty());
}
