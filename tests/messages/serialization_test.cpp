// Every message type of the type-ID block survives serialization, alone and
// inside a caf::message (which needs the registration that remote nodes rely
// on: an unregistered type fails here instead of on the wire).

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <catch2/catch.hpp>

#include "messages/interfaces.hpp"
#include "messages/protocol.hpp"

using namespace solver_state;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  fixture() {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  template <class T>
  T round_trip(T x) {
    std::vector<char> buf;
    caf::binary_serializer sink{*sys, buf};
    REQUIRE_FALSE(sink(x));
    T y{};
    caf::binary_deserializer source{*sys, buf};
    REQUIRE_FALSE(source(y));
    // And as a message, through the registered type information.
    std::vector<char> mbuf;
    caf::binary_serializer msink{*sys, mbuf};
    auto msg = caf::make_message(x);
    auto err = msink(msg);
    INFO(caf::to_string(err));
    REQUIRE_FALSE(err);
    caf::message back;
    caf::binary_deserializer msource{*sys, mbuf};
    REQUIRE_FALSE(msource(back));
    REQUIRE(back.match_elements<T>());
    return y;
  }
};

std::string binary() {
  return std::string{"\0\x01\xff\x7f", 4};
}

} // namespace

TEST_CASE_METHOD(fixture, "key-value protocol types round-trip") {
  auto e = round_trip(entry{binary(), 42, 1700000000000});
  CHECK(e.value == binary());
  CHECK(e.version == 42);
  CHECK(e.expires_at_ms == 1700000000000);
  auto c = round_trip(condition::matches(7));
  CHECK(c.kind == condition::if_version);
  CHECK(c.version == 7);
  auto s = round_trip(set_request{"k", binary(), 1500, condition::absent()});
  CHECK(s.key == "k");
  CHECK(s.value == binary());
  CHECK(s.ttl_ms == 1500);
  CHECK(s.cond.kind == condition::if_absent);
  CHECK(s.expires_at_ms == 0);
  auto at = set_request{"k", "v", 0, {}};
  at.expires_at_ms = 1700000000123;
  CHECK(round_trip(at).expires_at_ms == 1700000000123);
  auto d = round_trip(delete_request{"k", condition::matches(3)});
  CHECK(d.key == "k");
  CHECK(d.cond.version == 3);
  auto l = round_trip(list_request{"order:", "order:a", 50});
  CHECK(l.prefix == "order:");
  CHECK(l.after == "order:a");
  CHECK(l.limit == 50);
  auto p = round_trip(key_page{{"a", "b"}, true});
  CHECK(p.keys == std::vector<std::string>{"a", "b"});
  CHECK(p.more);
  auto br = round_trip(batch_request{{"a", "b"}, true});
  CHECK(br.keys.size() == 2);
  CHECK(br.skip_unreadable);
  auto bp = round_trip(
    batch_reply{{entry{"x", 1, 0}, entry{}}, {"c"}, {{"b", "key b: damaged"}}});
  REQUIRE(bp.entries.size() == 2);
  CHECK(bp.entries[0].value == "x");
  CHECK_FALSE(bp.entries[1].found());
  CHECK(bp.unprocessed == std::vector<std::string>{"c"});
  REQUIRE(bp.unreadable.size() == 1);
  CHECK(bp.unreadable[0].key == "b");
  CHECK(bp.unreadable[0].reason == "key b: damaged");
  auto dp = round_trip(delete_prefix_request{"state:q:", 500});
  CHECK(dp.prefix == "state:q:");
  CHECK(dp.limit == 500);
  auto dr = round_trip(delete_prefix_result{42, true});
  CHECK(dr.deleted == 42);
  CHECK(dr.more);
}

TEST_CASE_METHOD(fixture, "typed domain records round-trip") {
  auto o = round_trip(order{"eip7683", "0x1", binary(), 9});
  CHECK(o.order_type == "eip7683");
  CHECK(o.order_id == "0x1");
  CHECK(o.data == binary());
  CHECK(o.version == 9);
  CHECK(round_trip(order_ref{"t", "i"}).order_id == "i");
  CHECK(round_trip(orders_of{"t", {}}).order_type == "t");
  auto f = round_trip(fill{"o", "0xtx", binary(), 2});
  CHECK(f.tx_hash == "0xtx");
  CHECK(f.data == binary());
  CHECK(round_trip(fill_ref{"o", "tx"}).tx_hash == "tx");
  CHECK(round_trip(fills_of{"o", {}}).order_id == "o");
  auto st = round_trip(settlement{"o", "0xc", "d", 3});
  CHECK(st.claim_hash == "0xc");
  CHECK(round_trip(settlement_ref{"o", "c"}).claim_hash == "c");
  CHECK(round_trip(settlements_of{"o", {}}).order_id == "o");
  auto cs = round_trip(component_state{"quoter", "k", "v", 4});
  CHECK(cs.component == "quoter");
  CHECK(cs.data == "v");
  CHECK(round_trip(component_key{"c", "k"}).key == "k");
  CHECK(round_trip(id_list{{"a", "b"}}).ids.size() == 2);
}

TEST_CASE_METHOD(fixture, "metrics reports round-trip") {
  shard_report r;
  r.shard = 3;
  r.backend = "memory";
  r.keys = 10;
  r.bytes = 100;
  r.results = {1, 2, 3};
  r.buckets = {4, 5};
  r.seconds_sum = {0.5};
  auto back = round_trip(r);
  CHECK(back.shard == 3);
  CHECK(back.backend == "memory");
  CHECK(back.results == r.results);
  CHECK(back.buckets == r.buckets);
  CHECK(back.seconds_sum == r.seconds_sum);
  auto h = round_trip(http_report{{http_count{"/v1/state/{key}", "GET", 200, 5}}});
  REQUIRE(h.counts.size() == 1);
  CHECK(h.counts[0].status == 200);
  CHECK(h.counts[0].count == 5);
  CHECK(round_trip(http_count{"r", "PUT", 204, 1}).method == "PUT");
}

TEST_CASE_METHOD(fixture, "errors keep their code and message across the wire") {
  auto err = make_state_error(state_errc::version_mismatch, "version differs");
  std::vector<char> buf;
  caf::binary_serializer sink{*sys, buf};
  REQUIRE_FALSE(sink(err));
  caf::error back;
  caf::binary_deserializer source{*sys, buf};
  REQUIRE_FALSE(source(back));
  CHECK(code_of(back) == state_errc::version_mismatch);
  CHECK(message_of(back) == "version differs");
  CHECK(std::string{to_string(state_errc::payload_too_large)}
        == "payload_too_large");
}
