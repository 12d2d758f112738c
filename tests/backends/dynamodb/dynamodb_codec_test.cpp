// DynamoDB JSON attribute values and the item layout.

#include <catch2/catch.hpp>

#include "backends/dynamodb/codec.hpp"
#include "messages/errors.hpp"

using namespace solver_state;
using namespace solver_state::dynamodb;

TEST_CASE("an item round-trips through encode and decode") {
  stored_item item;
  item.key = std::string{"state:\xff\x80:k", 10};
  item.value = std::string{"\0bin", 4};
  item.version = 1'700'000'000'000'123;
  item.expires_at = 1'700'000'000'500;
  auto json = encode_item(item);
  CHECK(json.at("pk").as_object().at("S") == "state");
  CHECK(json.at("ttl").as_object().at("N") == "1700000001");
  auto back = decode_item(json);
  REQUIRE(back);
  CHECK(back->key == item.key);
  CHECK(back->value == item.value);
  CHECK(back->version == item.version);
  CHECK(back->expires_at == item.expires_at);
  CHECK(back->chunks == 0);
}

TEST_CASE("empty values leave out v, chunked values carry blob and nc") {
  stored_item empty;
  empty.key = "x";
  empty.version = 1;
  auto e = encode_item(empty);
  CHECK_FALSE(e.contains("v"));
  CHECK_FALSE(e.contains("ttl"));
  CHECK(e.at("pk").as_object().at("S") == "other");
  stored_item big;
  big.key = "fill:o:t";
  big.version = 2;
  big.blob = 77;
  big.chunks = 3;
  auto b = decode_item(encode_item(big));
  REQUIRE(b);
  CHECK(b->blob == 77);
  CHECK(b->chunks == 3);
}

TEST_CASE("an item without k or ver is a serialization_error") {
  auto r = decode_item(json::object{{"k", attr_b("x")}});
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == state_errc::serialization_error);
  CHECK_FALSE(read_u64(json::object{{"n", attr_s("12")}}, "n"));
  CHECK_FALSE(read_u64(json::object{{"n", json::object{{"N", "1.5"}}}}, "n"));
}
