// The store through its actors (router + shards + ticker + metrics) on the
// deterministic test coordinator: every operation and error of the protocol.

#include <algorithm>
#include <set>

#include <caf/typed_actor.hpp>
#include <catch2/catch.hpp>

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"
#include "tests/support/deterministic_fixture.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using testing::deterministic_fixture;

namespace {

set_request put(std::string key, std::string value, int64_t ttl_ms = 0,
                condition cond = condition::always()) {
  return set_request{std::move(key), std::move(value), ttl_ms, cond};
}

state_errc code(const caf::error& err) {
  return code_of(err);
}

} // namespace

TEST_CASE("key-value operations through the router") {
  deterministic_fixture f;
  auto v = f.ask<write_result>(put_atom_v, put("order:eip7683:1", "abc"));
  REQUIRE(v);
  auto e = f.ask<entry>(get_atom_v, std::string{"order:eip7683:1"});
  REQUIRE(e);
  CHECK(e->value == "abc");
  CHECK(e->version == v->version);
  CHECK(v->created);

  SECTION("get of a missing key is not_found") {
    auto missing = f.ask<entry>(get_atom_v, std::string{"order:eip7683:2"});
    REQUIRE_FALSE(missing);
    CHECK(code(missing.error()) == state_errc::not_found);
  }
  SECTION("delete, then get is not_found, delete again succeeds") {
    auto removed = f.ask<bool>(delete_atom_v,
                               delete_request{"order:eip7683:1", {}});
    REQUIRE(removed);
    CHECK(*removed);
    CHECK_FALSE(f.ask<entry>(get_atom_v, std::string{"order:eip7683:1"}));
    auto again = f.ask<bool>(delete_atom_v,
                             delete_request{"order:eip7683:1", {}});
    REQUIRE(again);
    CHECK_FALSE(*again);
  }
  SECTION("a stale version is refused with version_mismatch") {
    auto v2 = f.ask<write_result>(
      put_atom_v,
      put("order:eip7683:1", "new", 0, condition::matches(v->version)));
    REQUIRE(v2);
    CHECK_FALSE(v2->created); // replaced a live value
    auto stale = f.ask<write_result>(
      put_atom_v,
      put("order:eip7683:1", "lost", 0, condition::matches(v->version)));
    REQUIRE_FALSE(stale);
    CHECK(code(stale.error()) == state_errc::version_mismatch);
    auto stale_delete = f.ask<bool>(
      delete_atom_v,
      delete_request{"order:eip7683:1", condition::matches(v->version)});
    REQUIRE_FALSE(stale_delete);
    CHECK(code(stale_delete.error()) == state_errc::version_mismatch);
    CHECK(f.ask<entry>(get_atom_v, std::string{"order:eip7683:1"})->value
          == "new");
  }
  SECTION("create-only refuses an existing key") {
    auto r = f.ask<write_result>(put_atom_v, put("order:eip7683:1", "x", 0,
                                                 condition::absent()));
    REQUIRE_FALSE(r);
    CHECK(code(r.error()) == state_errc::version_mismatch);
  }
  SECTION("a negative TTL other than 'default' is a bad request") {
    auto r = f.ask<write_result>(put_atom_v, put("order:eip7683:9", "x", -5));
    REQUIRE_FALSE(r);
    CHECK(code(r.error()) == state_errc::bad_request);
  }
}

TEST_CASE("invalid keys are refused with invalid_key") {
  deterministic_fixture f;
  std::vector<std::string> bad{"", std::string(1025, 'k'),
                               std::string{"a\0b", 3}, "tab\there", "del\x7f",
                               "new\nline"};
  for (auto& key : bad) {
    INFO("key of " << key.size() << " bytes");
    auto set = f.ask<write_result>(put_atom_v, put(key, "v"));
    REQUIRE_FALSE(set);
    CHECK(code(set.error()) == state_errc::invalid_key);
    auto get = f.ask<entry>(get_atom_v, key);
    REQUIRE_FALSE(get);
    CHECK(code(get.error()) == state_errc::invalid_key);
    auto del = f.ask<bool>(delete_atom_v, delete_request{key, {}});
    REQUIRE_FALSE(del);
    CHECK(code(del.error()) == state_errc::invalid_key);
    auto batch = f.ask<batch_reply>(batch_get_atom_v,
                                    batch_request{{"order:ok:1", key}});
    REQUIRE_FALSE(batch);
    CHECK(code(batch.error()) == state_errc::invalid_key);
  }
  SECTION("1024 bytes is still a key") {
    CHECK(f.ask<write_result>(put_atom_v, put(std::string(1024, 'k'), "v")));
  }
}

TEST_CASE("TTL: expired keys vanish at once and are swept by the ticker") {
  auto state = deterministic_fixture::default_state();
  state.sweep_interval = 1s;
  deterministic_fixture f{state};
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:short", "x", 1500)));
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:forever", "y", 0)));
  f.advance(1s);
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:short"}));
  f.advance(600ms);
  auto gone = f.ask<entry>(get_atom_v, std::string{"state:c:short"});
  REQUIRE_FALSE(gone);
  CHECK(code(gone.error()) == state_errc::not_found);
  auto page = f.ask<key_page>(list_atom_v, list_request{"state:", {}, 0});
  REQUIRE(page);
  CHECK(page->keys == std::vector<std::string>{"state:c:forever"});
  // After the next tick the sweeper has dropped the key: metrics say 1 key.
  f.advance(1s);
  caf::expected<std::string> metrics{caf::error{}};
  auto h = (*f.self)->request(f.store.metrics, caf::infinite, render_atom_v);
  f.sched->run();
  std::move(h).receive([&](std::string& s) { metrics = s; },
                       [&](caf::error& e) { metrics = e; });
  REQUIRE(metrics);
  CHECK_THAT(*metrics,
             Catch::Contains("state_keys_total{backend=\"memory\"} 1\n"));
}

TEST_CASE("default TTL applies to writes that name none") {
  auto state = deterministic_fixture::default_state();
  state.ttl_seconds = 10;
  deterministic_fixture f{state};
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:d", "x", default_ttl)));
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:n", "x", 0)));
  f.advance(9s);
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:d"}));
  f.advance(2s);
  CHECK_FALSE(f.ask<entry>(get_atom_v, std::string{"state:c:d"}));
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:n"}));
}

TEST_CASE("list pages across shards: every key once, sorted") {
  deterministic_fixture f;
  std::set<std::string> written;
  for (int i = 0; i < 200; ++i) {
    auto key = "order:eip7683:" + std::to_string(i * 7919 % 1000);
    REQUIRE(f.ask<write_result>(put_atom_v, put(key, "v")));
    written.insert(key);
  }
  REQUIRE(f.ask<write_result>(put_atom_v, put("order:other:1", "v")));
  // The keys really are spread over several shards.
  std::set<size_t> shards_used;
  for (auto& k : written)
    shards_used.insert(shard_index(k, 4));
  REQUIRE(shards_used.size() == 4);
  for (uint32_t limit : {1u, 7u, 50u, 200u, 1000u}) {
    INFO("limit " << limit);
    std::vector<std::string> seen;
    std::string after;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = f.ask<key_page>(list_atom_v,
                                  list_request{"order:eip7683:", after, limit});
      REQUIRE(page);
      if (page->more)
        CHECK(page->keys.size() == limit);
      seen.insert(seen.end(), page->keys.begin(), page->keys.end());
      if (!page->more)
        break;
      after = page->keys.back();
    }
    CHECK(seen == std::vector<std::string>(written.begin(), written.end()));
  }
}

TEST_CASE("batch_get answers in request order, across shards") {
  deterministic_fixture f;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) {
    keys.push_back("state:batch:" + std::to_string(i));
    if (i % 3 != 0)
      REQUIRE(f.ask<write_result>(
        put_atom_v, put(keys.back(), "value-" + std::to_string(i))));
  }
  auto reply = f.ask<batch_reply>(batch_get_atom_v, batch_request{keys});
  REQUIRE(reply);
  REQUIRE(reply->entries.size() == keys.size());
  for (int i = 0; i < 40; ++i) {
    INFO(keys[i]);
    if (i % 3 == 0) {
      CHECK_FALSE(reply->entries[i].found());
    } else {
      CHECK(reply->entries[i].value == "value-" + std::to_string(i));
    }
  }
  CHECK(reply->unprocessed.empty());
  SECTION("an empty batch is an empty answer") {
    auto empty = f.ask<batch_reply>(batch_get_atom_v, batch_request{});
    REQUIRE(empty);
    CHECK(empty->entries.empty());
  }
}

TEST_CASE("typed order, fill and settlement messages") {
  deterministic_fixture f;
  REQUIRE(f.ask<version_t>(put_atom_v, order{"eip7683", "o1", "order", 0}));
  REQUIRE(f.ask<version_t>(put_atom_v, order{"eip7683", "o2", "order2", 0}));
  REQUIRE(f.ask<version_t>(put_atom_v, fill{"o1", "0xb", "f2", 0}));
  REQUIRE(f.ask<version_t>(put_atom_v, fill{"o1", "0xa", "f1", 0}));
  REQUIRE(f.ask<version_t>(put_atom_v, fill{"o2", "0xc", "f3", 0}));
  REQUIRE(f.ask<version_t>(put_atom_v, settlement{"o1", "0xclaim", "s", 0}));
  REQUIRE(f.ask<version_t>(put_atom_v, component_state{"quoter", "nonce:1",
                                                       "42", 0}));
  auto o = f.ask<order>(get_atom_v, order_ref{"eip7683", "o1"});
  REQUIRE(o);
  CHECK(o->data == "order");
  CHECK(o->version != 0);
  CHECK(f.ask<id_list>(list_atom_v, orders_of{"eip7683", {}})->ids
        == std::vector<std::string>{"o1", "o2"});
  CHECK(f.ask<id_list>(list_atom_v, fills_of{"o1", {}})->ids
        == std::vector<std::string>{"0xa", "0xb"});
  CHECK(f.ask<fill>(get_atom_v, fill_ref{"o1", "0xb"})->data == "f2");
  CHECK(f.ask<id_list>(list_atom_v, settlements_of{"o1", {}})->ids
        == std::vector<std::string>{"0xclaim"});
  CHECK(f.ask<settlement>(get_atom_v, settlement_ref{"o1", "0xclaim"})->data
        == "s");
  CHECK(f.ask<component_state>(get_atom_v, component_key{"quoter", "nonce:1"})
          ->data
        == "42");
  SECTION("typed records and raw keys are two views of one key") {
    auto raw = f.ask<entry>(get_atom_v, std::string{"fill:o1:0xa"});
    REQUIRE(raw);
    CHECK(raw->value == "f1");
    REQUIRE(f.ask<write_result>(put_atom_v, put("order:eip7683:o3", "raw")));
    CHECK(f.ask<order>(get_atom_v, order_ref{"eip7683", "o3"})->data == "raw");
  }
  SECTION("delete an order") {
    CHECK(*f.ask<bool>(delete_atom_v, order_ref{"eip7683", "o1"}));
    auto gone = f.ask<order>(get_atom_v, order_ref{"eip7683", "o1"});
    REQUIRE_FALSE(gone);
    CHECK(code(gone.error()) == state_errc::not_found);
  }
  SECTION("segments with ':' or nothing in them are invalid keys") {
    auto colon = f.ask<version_t>(put_atom_v, order{"eip:7683", "o", "x", 0});
    REQUIRE_FALSE(colon);
    CHECK(code(colon.error()) == state_errc::invalid_key);
    auto empty = f.ask<fill>(get_atom_v, fill_ref{"", "0xa"});
    REQUIRE_FALSE(empty);
    CHECK(code(empty.error()) == state_errc::invalid_key);
    auto list = f.ask<id_list>(list_atom_v, fills_of{"a:b", {}});
    REQUIRE_FALSE(list);
    CHECK(code(list.error()) == state_errc::invalid_key);
  }
}

TEST_CASE("max_items: reject refuses, lru evicts the least recently used") {
  auto state = deterministic_fixture::default_state();
  state.max_items = 10;
  SECTION("reject") {
    deterministic_fixture f{state};
    for (int i = 0; i < 10; ++i)
      REQUIRE(f.ask<write_result>(put_atom_v,
                                  put("state:cap:" + std::to_string(i), "v")));
    auto full = f.ask<write_result>(put_atom_v, put("state:cap:new", "v"));
    REQUIRE_FALSE(full);
    CHECK(code(full.error()) == state_errc::capacity_exceeded);
    // Overwriting an existing key needs no room.
    CHECK(f.ask<write_result>(put_atom_v, put("state:cap:3", "v2")));
    // Deleting makes room.
    REQUIRE(f.ask<bool>(delete_atom_v, delete_request{"state:cap:0", {}}));
    CHECK(f.ask<write_result>(put_atom_v, put("state:cap:new", "v")));
  }
  SECTION("lru (one shard: exact LRU order)") {
    state.shards = 1;
    state.eviction = eviction_policy::lru;
    deterministic_fixture f{state};
    for (int i = 0; i < 10; ++i)
      REQUIRE(f.ask<write_result>(put_atom_v,
                                  put("state:cap:" + std::to_string(i), "v")));
    REQUIRE(f.ask<entry>(get_atom_v, std::string{"state:cap:0"}));
    REQUIRE(f.ask<write_result>(put_atom_v, put("state:cap:new", "v")));
    CHECK(f.ask<entry>(get_atom_v, std::string{"state:cap:0"}));
    CHECK_FALSE(f.ask<entry>(get_atom_v, std::string{"state:cap:1"}));
    auto page = f.ask<key_page>(list_atom_v, list_request{"state:cap:", {}, 0});
    CHECK(page->keys.size() == 10);
  }
  SECTION("lru across shards keeps the whole store at max_items") {
    state.eviction = eviction_policy::lru;
    deterministic_fixture f{state};
    for (int i = 0; i < 100; ++i)
      REQUIRE(f.ask<write_result>(put_atom_v,
                                  put("state:cap:" + std::to_string(i), "v")));
    auto page = f.ask<key_page>(list_atom_v, list_request{"state:cap:", {}, 0});
    REQUIRE(page);
    CHECK(page->keys.size() <= 10 + 3); // at most shards-1 over, see README
    CHECK(f.ask<entry>(get_atom_v, std::string{"state:cap:99"}));
  }
}

TEST_CASE("a transaction over several shards that the store has no room "
          "for answers capacity_exceeded, whichever part fails") {
  auto state = deterministic_fixture::default_state();
  state.max_items = 10;
  deterministic_fixture f{state};
  std::vector<std::string> held;
  for (int i = 0; i < 10; ++i) {
    held.push_back("state:full:" + std::to_string(i));
    REQUIRE(f.ask<write_result>(put_atom_v, put(held.back(), "v")));
  }
  // A new key on each side of a held key in the shards' lock order: the
  // part that fails (the new key's) locks first, or last.
  int tried_before = 0, tried_after = 0;
  for (int i = 0; i < 40; ++i) {
    auto fresh = "state:new:" + std::to_string(i);
    auto& old = held[static_cast<size_t>(i) % held.size()];
    auto fresh_shard = shard_index(fresh, 4);
    auto old_shard = shard_index(old, 4);
    if (fresh_shard == old_shard)
      continue;
    (fresh_shard < old_shard ? tried_before : tried_after) += 1;
    transaction_request txn;
    txn.ops.push_back(txn_op::put(old, "changed"));
    txn.ops.push_back(txn_op::put(fresh, "new"));
    auto got = f.ask<transaction_reply>(transact_atom_v, txn);
    REQUIRE_FALSE(got);
    INFO(fresh << " (shard " << fresh_shard << ") with " << old << " (shard "
               << old_shard << "): " << message_of(got.error()));
    CHECK(code(got.error()) == state_errc::capacity_exceeded);
    CHECK(f.ask<entry>(get_atom_v, old)->value == "v");
    CHECK_FALSE(f.ask<entry>(get_atom_v, fresh));
  }
  CHECK(tried_before > 0);
  CHECK(tried_after > 0);
}

namespace {

/// The metrics text after the shards' next tick report.
std::string metrics_after_tick(deterministic_fixture& f) {
  f.advance(1s);
  caf::expected<std::string> text{caf::error{}};
  auto h = (*f.self)->request(f.store.metrics, caf::infinite, render_atom_v);
  f.sched->run();
  std::move(h).receive([&](std::string& s) { text = s; },
                       [&](caf::error& e) { text = e; });
  REQUIRE(text);
  return *text;
}

/// The state_operations_total line of transactions with `result`.
std::string transactions(const std::string& result, int n) {
  return "state_operations_total{op=\"transaction\",backend=\"memory\","
         "result=\""
         + result + "\"} " + std::to_string(n) + "\n";
}

} // namespace

TEST_CASE("a transaction over several shards counts once in the metrics, "
          "with the answer its client gets") {
  auto state = deterministic_fixture::default_state();
  state.max_items = 8;
  state.sweep_interval = 1s;
  deterministic_fixture f{state};
  // Two held keys on every shard: the store is full.
  std::vector<std::vector<std::string>> held(4);
  auto all_held = [&] {
    return std::all_of(held.begin(), held.end(),
                       [](auto& keys) { return keys.size() == 2; });
  };
  for (int i = 0; !all_held(); ++i) {
    auto key = "state:held:" + std::to_string(i);
    auto& mine = held[shard_index(key, 4)];
    if (mine.size() == 2)
      continue;
    mine.push_back(key);
    REQUIRE(f.ask<write_result>(put_atom_v, put(key, "v")));
  }
  std::vector<std::string> fresh(4);
  for (int i = 0; std::count(fresh.begin(), fresh.end(), "") > 0; ++i) {
    auto key = "state:fresh:" + std::to_string(i);
    auto& slot = fresh[shard_index(key, 4)];
    if (slot.empty())
      slot = key;
  }
  // Applied on all four shards.
  transaction_request ok;
  for (auto& keys : held)
    ok.ops.push_back(txn_op::put(keys[0], "changed"));
  REQUIRE(f.ask<transaction_reply>(transact_atom_v, ok));
  // A new key on two shards: both refused, the two other parts put back.
  transaction_request full;
  for (size_t s = 0; s < 4; ++s)
    full.ops.push_back(s < 2 ? txn_op::put(fresh[s], "new")
                             : txn_op::put(held[s][1], "changed"));
  auto refused = f.ask<transaction_reply>(transact_atom_v, full);
  REQUIRE_FALSE(refused);
  CHECK(code(refused.error()) == state_errc::capacity_exceeded);
  // A condition that fails on the last shard in the lock order.
  transaction_request stale;
  for (size_t s = 0; s < 4; ++s)
    stale.ops.push_back(
      txn_op::put(held[s][1], "changed",
                  s == 3 ? condition::matches(987654321) : condition{}));
  auto mismatch = f.ask<transaction_reply>(transact_atom_v, stale);
  REQUIRE_FALSE(mismatch);
  CHECK(code(mismatch.error()) == state_errc::version_mismatch);

  auto text = metrics_after_tick(f);
  INFO(text);
  CHECK_THAT(text, Catch::Contains(transactions("ok", 1)));
  CHECK_THAT(text, Catch::Contains(transactions("capacity_exceeded", 1)));
  CHECK_THAT(text, Catch::Contains(transactions("version_mismatch", 1)));
  CHECK_THAT(text, Catch::Contains("state_operation_duration_seconds_count{"
                                   "op=\"transaction\",backend=\"memory\"} "
                                   "3\n"));
}

TEST_CASE("health reports ok for a working backend") {
  deterministic_fixture f;
  auto h = f.ask<health_report>(health_atom_v);
  REQUIRE(h);
  CHECK(h->quarantined_values == 0);
}
