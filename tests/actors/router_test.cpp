// The ROUTER over four memory shards, on the deterministic test coordinator:
// every key reaches the shard the placement names, listings merge the
// shards' sorted pages (a placement group's from its one shard), batches
// come back in request order.

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "actors/router.hpp"
#include "actors/shard.hpp"
#include "backends/key_budget.hpp"
#include "backends/memory/store.hpp"
#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"
#include "tests/support/deterministic_fixture.hpp"

using namespace solver_state;
using testing::deterministic_system;

namespace {

constexpr size_t shard_count = 4;

struct router_fixture : deterministic_system {
  std::vector<shard_actor> shards;
  state_actor router;

  router_fixture() {
    auto budget = std::make_shared<key_budget>(0);
    for (uint32_t i = 0; i < shard_count; ++i)
      shards.push_back(stop_at_end(spawn_shard(
        *sys,
        std::make_unique<memory_store>(budget, eviction_policy::reject, 0),
        false, [i] {
          shard_settings s;
          s.index = i;
          return s;
        }())));
    router = stop_at_end(spawn_router(*sys, shards));
    sched->run();
  }

  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts&&... xs) {
    return ask_actor<Reply>(router, std::forward<Ts>(xs)...);
  }

  version_t put(const std::string& key) {
    auto v = ask<write_result>(put_atom_v, set_request{key, "v:" + key, 0, {}});
    REQUIRE(v);
    return v->version;
  }
};

} // namespace

TEST_CASE("router: every key reaches the shard the placement says") {
  router_fixture f;
  std::vector<std::string> keys{"fill:o1:0xa", "fill:o1:0xb",
                                "settlement:o1:0xc", "other-key"};
  for (int i = 0; i < 12; ++i) {
    keys.push_back("order:eip7683:" + std::to_string(i));
    keys.push_back("state:quoter:" + std::to_string(i));
  }
  std::set<size_t> used;
  for (auto& key : keys) {
    INFO(key);
    auto version = f.put(key);
    auto owner = shard_index(key, shard_count);
    used.insert(owner);
    // Only the owner holds the key, and it is the one that answered.
    for (size_t i = 0; i < shard_count; ++i) {
      auto e = f.ask_actor<entry>(f.shards[i], get_atom_v, key);
      if (i == owner) {
        REQUIRE(e);
        CHECK(e->version == version);
      } else {
        CHECK_FALSE(e);
      }
    }
    // Reads through the router find it.
    CHECK(f.ask<entry>(get_atom_v, key)->value == "v:" + key);
  }
  CHECK(used.size() == shard_count);
  SECTION("typed records go to the owner of their key") {
    REQUIRE(f.ask<version_t>(put_atom_v, order{"eip7683", "x9", "o", 0}));
    auto key = order_key("eip7683", "x9");
    auto owner = shard_index(key, shard_count);
    CHECK(f.ask_actor<entry>(f.shards[owner], get_atom_v, key)->value == "o");
    CHECK(f.ask<order>(get_atom_v, order_ref{"eip7683", "x9"})->data == "o");
  }
}

TEST_CASE("router: list merges sorted pages across shards with limit and "
          "cursor") {
  router_fixture f;
  std::set<std::string> expected;
  std::set<size_t> used;
  for (int i = 0; i < 30; ++i) {
    auto key = "order:t:" + std::to_string(i * 37 % 100);
    f.put(key);
    expected.insert(key);
    used.insert(shard_index(key, shard_count));
  }
  f.put("order:u:1"); // outside the prefix
  f.put("order:t");   // shorter than the prefix
  REQUIRE(used.size() > 1);
  SECTION("limit 0 is every key in one page") {
    auto page = f.ask<key_page>(list_atom_v, list_request{"order:t:", {}, 0});
    REQUIRE(page);
    CHECK(page->keys == std::vector<std::string>(expected.begin(),
                                                 expected.end()));
    CHECK_FALSE(page->more);
  }
  SECTION("pages of 7 follow the cursor, sorted, each key once") {
    std::vector<std::string> seen;
    std::string after;
    key_page page;
    do {
      auto next = f.ask<key_page>(list_atom_v,
                                  list_request{"order:t:", after, 7});
      REQUIRE(next);
      page = std::move(*next);
      CHECK(page.keys.size() == (page.more ? 7u : expected.size() % 7));
      CHECK(std::is_sorted(page.keys.begin(), page.keys.end()));
      seen.insert(seen.end(), page.keys.begin(), page.keys.end());
      if (!page.keys.empty())
        after = page.keys.back();
    } while (page.more && seen.size() <= expected.size());
    CHECK(seen == std::vector<std::string>(expected.begin(), expected.end()));
  }
  SECTION("a cursor in the middle starts after it") {
    auto page = f.ask<key_page>(list_atom_v,
                                list_request{"order:t:", "order:t:5", 3});
    REQUIRE(page);
    auto from = expected.upper_bound("order:t:5");
    CHECK(page->keys == std::vector<std::string>(from, std::next(from, 3)));
    CHECK(page->more);
  }
}

TEST_CASE("router: an order's fills, settlements and a tag's keys are "
          "listed by their one owner shard") {
  router_fixture f;
  // An order id with braces is one id, placed by its own text: a router that
  // placed it by its tag (reading the group as a key) asks the wrong shard.
  std::string tagged_id;
  for (int i = 0; tagged_id.empty(); ++i)
    if (shard_of_group("{" + std::to_string(i) + "}", shard_count)
        != shard_of_group(std::to_string(i), shard_count))
      tagged_id = "{" + std::to_string(i) + "}";
  for (auto id : {std::string{"0xabc"}, tagged_id}) {
    INFO("order " << id);
    auto owner = shard_index(order_key("eip7683", id), shard_count);
    REQUIRE(f.ask<version_t>(put_atom_v, order{"eip7683", id, "o", 0}));
    for (auto tx : {"0xt1", "0xt2", "0xt3"})
      REQUIRE(f.ask<version_t>(put_atom_v, fill{id, tx, "f", 0}));
    REQUIRE(f.ask<version_t>(put_atom_v, settlement{id, "0xc", "s", 0}));
    // All of them on the order's shard.
    for (size_t i = 0; i < shard_count; ++i) {
      auto held = f.ask_actor<id_list>(f.shards[i], list_atom_v,
                                       fills_of{id, {}, 0});
      REQUIRE(held);
      CHECK(held->ids.size() == (i == owner ? 3u : 0u));
    }
    // A stray fill planted on another shard is invisible to a listing of
    // the order's fills: proof that the router asked the owner alone (a
    // fan-out would merge it in, as the listing of every fill shows).
    auto stray = fill_key(id, "0xstray");
    REQUIRE(f.ask_actor<write_result>(f.shards[(owner + 1) % shard_count],
                                      put_atom_v,
                                      set_request{stray, "s", 0, {}}));
    auto typed = f.ask<id_list>(list_atom_v, fills_of{id, {}, 0});
    REQUIRE(typed);
    CHECK(typed->ids == std::vector<std::string>{"0xt1", "0xt2", "0xt3"});
    auto raw = f.ask<key_page>(list_atom_v,
                               list_request{fills_prefix(id), {}, 0});
    REQUIRE(raw);
    CHECK(raw->keys
          == std::vector<std::string>{fill_key(id, "0xt1"),
                                      fill_key(id, "0xt2"),
                                      fill_key(id, "0xt3")});
    auto settled = f.ask<id_list>(list_atom_v, settlements_of{id, {}, 0});
    REQUIRE(settled);
    CHECK(settled->ids == std::vector<std::string>{"0xc"});
    auto every_fill = f.ask<key_page>(list_atom_v, list_request{"fill:", {}, 0});
    REQUIRE(every_fill);
    CHECK(std::count(every_fill->keys.begin(), every_fill->keys.end(), stray)
          == 1);
  }
  SECTION("the keys of one {tag}") {
    std::vector<std::string> keys;
    for (int i = 0; i < 10; ++i)
      keys.push_back("state:{quoter}:k" + std::to_string(i));
    for (auto& key : keys)
      f.put(key);
    auto owner = shard_index(keys.front(), shard_count);
    for (auto& key : keys)
      CHECK(shard_index(key, shard_count) == owner);
    REQUIRE(f.ask_actor<write_result>(f.shards[(owner + 1) % shard_count],
                                      put_atom_v,
                                      set_request{"state:{quoter}:stray", "s",
                                                  0, {}}));
    auto page = f.ask<key_page>(list_atom_v,
                                list_request{"state:{quoter}:", {}, 0});
    REQUIRE(page);
    std::sort(keys.begin(), keys.end());
    CHECK(page->keys == keys);
  }
}

TEST_CASE("router: batch_get answers in request order across shards") {
  router_fixture f;
  f.put("state:b:1");
  f.put("state:b:2");
  f.put("state:b:3");
  batch_request req{{"state:b:3", "state:b:missing", "state:b:1",
                     "state:b:2"}};
  auto reply = f.ask<batch_reply>(batch_get_atom_v, req);
  REQUIRE(reply);
  REQUIRE(reply->entries.size() == req.keys.size());
  CHECK(reply->entries[0].value == "v:state:b:3");
  CHECK_FALSE(reply->entries[1].found());
  CHECK(reply->entries[2].value == "v:state:b:1");
  CHECK(reply->entries[3].value == "v:state:b:2");
}

TEST_CASE("router: stopping the router stops its shards") {
  router_fixture f;
  f.put("state:c:k");
  caf::anon_send_exit(f.router, caf::exit_reason::user_shutdown);
  f.sched->run();
  for (auto& shard : f.shards) {
    auto e = f.ask_actor<entry>(shard, get_atom_v, std::string{"state:c:k"});
    REQUIRE_FALSE(e);
    CHECK(code_of(e.error()) == state_errc::backend_unavailable);
  }
}
