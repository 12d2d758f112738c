// DynamoDB JSON attribute values and the item layout.

#include <boost/json/serialize.hpp>
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

namespace {

/// A valid item of key "state:bad" with `attr` set to `value`.
json::object item_with(std::string_view attr, json::object value) {
  stored_item item;
  item.key = "state:bad";
  item.version = 5;
  auto json = encode_item(item);
  json[attr] = std::move(value);
  return json;
}

/// decode_item of an item whose `attr` holds `value` fails with a
/// backend_error naming the key and the attribute.
void check_refused(std::string_view attr, json::object value) {
  INFO(attr << " = " << json::serialize(value));
  auto r = decode_item(item_with(attr, std::move(value)));
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(r.error()), Catch::Contains("state:bad"));
  CHECK_THAT(message_of(r.error()),
             Catch::Contains("'" + std::string{attr} + "'"));
}

} // namespace

// Items are written by others too (by hand, another version, a bug): an
// attribute that is there but cannot be read must not pass for an absent
// one (an empty value, no expiry), nor a chunk count for billions of reads.
TEST_CASE("an attribute present but invalid is a backend_error naming the "
          "key and the attribute") {
  check_refused("v", json::object{{"B", "not base64!"}});
  check_refused("v", attr_s("text"));
  check_refused("exp", json::object{{"N", "soon"}});
  check_refused("exp", attr_s("0"));
  check_refused("exp", attr_n(uint64_t{1} << 63)); // past any unix_ms
  check_refused("blob", json::object{{"N", "-1"}});
  check_refused("nc", attr_n(uint64_t{4'000'000'000}));
  check_refused("nc", attr_n(uint64_t{1} << 32));
  check_refused("nc", attr_n(uint64_t{max_chunk_count} + 1));
  check_refused("nc", attr_s("3"));
}

TEST_CASE("the largest chunk count a store writes decodes") {
  auto r = decode_item(item_with("nc", attr_n(uint64_t{max_chunk_count})));
  REQUIRE(r);
  CHECK(r->chunks == max_chunk_count);
  CHECK(uint64_t{max_chunk_count} * value_chunk_bytes
        >= largest_value_bytes);
}
