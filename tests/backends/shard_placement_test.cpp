// Placement groups (backends/shard_placement.hpp): every rule of the
// contract and its edges, which prefixes name one group, that an order, its
// fills and its settlements share a shard, that keys without a group of
// their own still spread evenly, and the pinned hash every shard and node
// placement depends on.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

using namespace solver_state;

namespace {

/// Keys per shard of `shards` for the keys `make(i)`, i < n.
template <class MakeKey>
std::vector<int> spread(int n, size_t shards, MakeKey make) {
  std::vector<int> per_shard(shards);
  for (int i = 0; i < n; ++i)
    ++per_shard[shard_index(make(i), shards)];
  return per_shard;
}

} // namespace

TEST_CASE("prefix classes") {
  CHECK(class_of("order:x:y") == key_class::order);
  CHECK(class_of("fill:x:y") == key_class::fill);
  CHECK(class_of("settlement:x") == key_class::settlement);
  CHECK(class_of("state:x:y") == key_class::state);
  CHECK(class_of("orders:x") == key_class::other);
  CHECK(class_of("fil") == key_class::other);
}

TEST_CASE("rule 1: an order, its fills and its settlements are placed by "
          "the order id") {
  CHECK(placement_group("order:eip7683:0xabc") == "0xabc");
  CHECK(placement_group("fill:0xabc:0xtx") == "0xabc");
  CHECK(placement_group("settlement:0xabc:0xc") == "0xabc");
  CHECK(placement_group(fill_key("0xabc", "0xtx")) == "0xabc");
  CHECK(placement_group(settlement_key("0xabc", "0xc")) == "0xabc");
  SECTION("an order's id is the whole tail, a fill's ends at its second ':'") {
    CHECK(placement_group("order:t:a:b") == "a:b");
    CHECK(placement_group("fill:a:b:c") == "a");
    CHECK(placement_group("fill:o1:") == "o1"); // empty tx hash, id still o1
  }
  SECTION("braces in an order id are part of the id: rule 1 comes first") {
    CHECK(placement_group("order:t:{a}b") == "{a}b");
    CHECK(placement_group("fill:{a}b:tx") == "{a}b");
    CHECK(placement_group("settlement:{a}b:c") == "{a}b");
    // Braces in the order type do not pull the order away from its fills.
    CHECK(placement_group("order:{t}:x") == "x");
    CHECK(placement_group("fill:x:{tx}") == "x");
  }
  SECTION("a missing or empty id falls through to rules 2 and 3") {
    CHECK(placement_group("order:t") == "order:t");
    CHECK(placement_group("order:t:") == "order:t:");
    CHECK(placement_group("order:{t}") == "t");
    CHECK(placement_group("fill:x") == "fill:x");
    CHECK(placement_group("fill::tx") == "fill::tx");
    CHECK(placement_group("fill::{g}") == "g");
    CHECK(placement_group("settlement:{g}") == "g");
  }
}

TEST_CASE("rule 2: the first non-empty {tag} places any other key") {
  CHECK(placement_group("state:{quoter}:nonce") == "quoter");
  CHECK(placement_group("state:{quoter}:last") == "quoter");
  CHECK(placement_group("{quoter}") == "quoter");
  CHECK(placement_group("x{a}{b}") == "a");         // the first pair wins
  CHECK(placement_group("x{a{b}c}") == "a{b");      // up to the first '}'
  CHECK(placement_group("x}y{a}") == "a");          // a '}' before '{' is text
  CHECK(placement_group("audit:{0xabc}:1") == "0xabc");
  SECTION("rule 3: an empty first pair or no closing brace: the whole key") {
    CHECK(placement_group("state:{}:x") == "state:{}:x");
    CHECK(placement_group("x{}{b}") == "x{}{b}"); // as in Redis Cluster
    CHECK(placement_group("state:{quoter") == "state:{quoter");
    CHECK(placement_group("state:quoter}") == "state:quoter}");
    CHECK(placement_group("state:quoter:nonce") == "state:quoter:nonce");
    CHECK(placement_group("plain") == "plain");
  }
}

TEST_CASE("group_of_prefix names a group only when every key under the "
          "prefix has it") {
  SECTION("fills and settlements of one order") {
    CHECK(group_of_prefix("fill:o1:") == "o1");
    CHECK(group_of_prefix("fill:o1:0xt") == "o1");
    CHECK(group_of_prefix("settlement:o1:") == "o1");
    CHECK(group_of_prefix(fills_prefix("0xabc")) == "0xabc");
    CHECK(group_of_prefix(settlements_prefix("0xabc")) == "0xabc");
    CHECK(group_of_prefix("fill:{a}b:") == "{a}b");
    CHECK(group_of_prefix("fill:o1") == ""); // could match fill:o10:...
    CHECK(group_of_prefix("fill:") == "");
    CHECK(group_of_prefix("fill:{x}") == ""); // fill:{x}:t and fill:{x}y:t
    CHECK(group_of_prefix("fill::") == "");   // whole keys, each its own
    CHECK(group_of_prefix("fill::{g}") == "g"); // empty id: the tag decides
    CHECK(group_of_prefix("fill::{g") == "");
  }
  SECTION("never the orders of a prefix: the id is the key's tail") {
    CHECK(group_of_prefix("order:t:") == "");
    CHECK(group_of_prefix("order:t:0xabc") == ""); // and order:t:0xabcd
    CHECK(group_of_prefix("order:{t}:") == "");
    CHECK(group_of_prefix("order:t:{a}") == "");
    CHECK(group_of_prefix("order:{t}") == "");
  }
  SECTION("a complete tag in any other prefix") {
    CHECK(group_of_prefix("state:{quoter}:") == "quoter");
    CHECK(group_of_prefix("state:{quoter}") == "quoter");
    CHECK(group_of_prefix("{quoter}") == "quoter");
    CHECK(group_of_prefix("x{a}{") == "a");
    CHECK(group_of_prefix("state:{quoter") == ""); // state:{quoterz}...
    CHECK(group_of_prefix("state:{") == "");
    CHECK(group_of_prefix("state:{}") == ""); // whole keys
    CHECK(group_of_prefix("state:quoter:") == "");
    CHECK(group_of_prefix("") == "");
    CHECK(group_of_prefix("fi") == "");
  }
}

TEST_CASE("a prefix's group is the group of every key under it") {
  // The router asks only the owner of group_of_prefix: a key under the
  // prefix in another group would be missing from the listing.
  const std::vector<std::string> prefixes{
    "fill:o1:", "settlement:{a}b:", "fill::{g}", "state:{quoter}:",
    "state:{quoter}", "{q}", "x{a}{"};
  const std::vector<std::string> tails{"",  "x", ":y", "{z}", "}", "{",
                                       "0xt:{w}", ":{}"};
  for (auto& prefix : prefixes) {
    auto group = group_of_prefix(prefix);
    REQUIRE_FALSE(group.empty());
    for (auto& tail : tails) {
      INFO(prefix << tail);
      CHECK(placement_group(prefix + tail) == group);
    }
  }
}

TEST_CASE("an order, its fills and its settlements share a shard") {
  for (size_t shards : {size_t{2}, size_t{3}, size_t{8}, size_t{64}}) {
    for (int i = 0; i < 500; ++i) {
      auto id = "0x" + std::to_string(i * 7919);
      INFO(id << " over " << shards);
      auto s = shard_index(order_key("eip7683", id), shards);
      CHECK(shard_index(order_key("other-type", id), shards) == s);
      CHECK(shard_index(fill_key(id, "a"), shards) == s);
      CHECK(shard_index(fill_key(id, "b"), shards) == s);
      CHECK(shard_index(settlement_key(id, "c"), shards) == s);
      CHECK(shard_index("audit:{" + id + "}:1", shards) == s);
      CHECK(shard_of_group(group_of_prefix(fills_prefix(id)), shards) == s);
      CHECK(shard_of_group(group_of_prefix(settlements_prefix(id)), shards)
            == s);
    }
  }
}

TEST_CASE("the keys of one tag share a shard") {
  for (int i = 0; i < 200; ++i) {
    auto tag = "quoter-" + std::to_string(i);
    auto s = shard_index("state:{" + tag + "}:nonce", 8);
    CHECK(shard_index("state:{" + tag + "}:last", 8) == s);
    CHECK(shard_index("other:{" + tag + "}", 8) == s);
    CHECK(shard_of_group(group_of_prefix("state:{" + tag + "}:"), 8) == s);
  }
}

TEST_CASE("a group is hashed as it is, never read as a key again") {
  // The id `{a}` read as a key is in group `a`; the shard of the group
  // `{a}` is that of its text.
  auto s = shard_index("order:t:{a}", 1024);
  CHECK(s == shard_index("fill:{a}:tx", 1024));
  CHECK(s == shard_of_group("{a}", 1024));
  CHECK(s == shard_of_group(group_of_prefix("fill:{a}:"), 1024));
  CHECK(shard_index("{a}", 1024) == shard_of_group("a", 1024));
}

TEST_CASE("keys spread evenly over the shards") {
  auto even = [](const std::vector<int>& per_shard, int total) {
    auto mean = total / static_cast<int>(per_shard.size());
    for (auto n : per_shard) {
      CHECK(n > mean * 8 / 10);
      CHECK(n < mean * 12 / 10);
    }
  };
  SECTION("orders, each its own group") {
    even(spread(8000, 8,
                [](int i) {
                  return order_key("eip7683", "0x" + std::to_string(i));
                }),
         8000);
  }
  SECTION("keys without a tag, by their whole text") {
    even(spread(8000, 8,
                [](int i) { return state_key("quoter", std::to_string(i)); }),
         8000);
  }
  SECTION("keys with a tag, by the tag") {
    even(spread(8000, 8,
                [](int i) {
                  return "state:{c" + std::to_string(i) + "}:nonce";
                }),
         8000);
  }
}

TEST_CASE("one shard owns everything") {
  CHECK(shard_index("order:t:x", 1) == 0);
  CHECK(shard_index("anything", 0) == 0);
  CHECK(shard_of_group("x", 1) == 0);
}

TEST_CASE("stable_hash and the shards it picks are stable across builds") {
  // Pinned: where keys live on shards and nodes depends on these values; a
  // change here would strand data written by an older build (the file
  // backend re-splits its keys at start-up, a cluster does not: see
  // docs/cluster.md).
  CHECK(stable_hash("") == 0xecba3df2c3383c52ull);
  CHECK(stable_hash("order:eip7683:1") == 0x838286e34114cd71ull);
  CHECK(stable_hash("a") != stable_hash("b"));
  // Computed by hand from the pinned hash: stable_hash("0xabc") % 8 == 3,
  // stable_hash("quoter") % 8 == 1. (Before placement groups the fill was
  // placed by "fill:0xabc", on shard 1.)
  CHECK(shard_index("fill:0xabc:0x1", 8) == 3);
  CHECK(shard_index("order:eip7683:0xabc", 8) == 3);
  CHECK(shard_index("state:{quoter}:nonce", 8) == 1);
}
