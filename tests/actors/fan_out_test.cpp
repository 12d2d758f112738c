// The fan-out collectors on the deterministic test coordinator: each asks
// every owner once, merges the answers, answers its caller and quits; an
// owner that never replies makes it answer with a timeout error, not silence.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/response_promise.hpp>
#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/fan_out.hpp"
#include "actors/shard.hpp"
#include "backends/key_budget.hpp"
#include "backends/memory/store.hpp"
#include "tests/support/damaged_store.hpp"
#include "tests/support/deterministic_fixture.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using testing::deterministic_system;

namespace {

using held_requests = std::vector<caf::response_promise>;

/// An owner that takes every request and never answers (a hung peer); it
/// keeps the promises in `held`.
caf::behavior silent_owner(caf::event_based_actor* self,
                           std::shared_ptr<held_requests> held) {
  auto hold = [self, held] {
    held->push_back(self->make_response_promise());
    return held->back();
  };
  return {
    [=](list_atom, const list_request&) { return hold(); },
    [=](list_atom, const orders_of&) { return hold(); },
    [=](batch_get_atom, const batch_request&) { return hold(); },
    [=](health_atom) { return hold(); },
  };
}

/// An owner that answers a batch_get with every key unreadable, named in
/// reverse order (a broken owner: ours name them in request order).
caf::behavior misnaming_owner(caf::event_based_actor*) {
  return {[](batch_get_atom, const batch_request& req) {
    batch_reply reply;
    reply.entries.resize(req.keys.size());
    for (auto k = req.keys.rbegin(); k != req.keys.rend(); ++k)
      reply.unreadable.push_back({*k, "damaged"});
    return reply;
  }};
}

/// A healthy owner with `quarantined` values in quarantine.
caf::behavior reporting_owner(caf::event_based_actor*, uint64_t quarantined) {
  return {
    [=](health_atom) { return health_report{quarantined, 10 * quarantined}; },
  };
}

/// Owners by the last character of a key: "state:k:3" belongs to owner
/// 3 % owners.size().
struct fan_out_fixture : deterministic_system {
  std::vector<state_actor> owners;
  /// What the silent owners were asked.
  std::shared_ptr<held_requests> held = std::make_shared<held_requests>();

  state_actor memory_shard() {
    shard_actor s = spawn_shard(
      *sys,
      std::make_unique<memory_store>(std::make_shared<key_budget>(0),
                                     eviction_policy::reject, 0),
      false, shard_settings{});
    return stop_at_end(s);
  }

  /// A shard over `store`, whose batch replies carry at most
  /// `max_reply_bytes` of values.
  state_actor shard_over(std::unique_ptr<state_store> store,
                         size_t max_reply_bytes = 16u << 20) {
    shard_settings settings;
    settings.max_reply_bytes = max_reply_bytes;
    return stop_at_end(spawn_shard(*sys, std::move(store), false, settings));
  }

  state_actor reporting(uint64_t quarantined) {
    return stop_at_end(caf::actor_cast<state_actor>(
      sys->spawn(reporting_owner, quarantined)));
  }

  state_actor silent() {
    return stop_at_end(
      caf::actor_cast<state_actor>(sys->spawn(silent_owner, held)));
  }

  ownership_ptr<state_actor> map(caf::duration timeout = caf::infinite,
                                 size_t max_reply_bytes = 16u << 20) {
    auto m = std::make_shared<ownership<state_actor>>();
    m->max_reply_bytes = max_reply_bytes;
    m->owners = owners;
    auto n = owners.size();
    m->owner_of_key = [n](std::string_view key) {
      return static_cast<size_t>(key.back()) % n;
    };
    m->owner_of_group = m->owner_of_key;
    m->timeout = timeout;
    return m;
  }

  /// Writes `key` straight to its owner.
  void put(const std::string& key) {
    auto owner = map()->owner_of_key(key);
    REQUIRE(ask_actor<write_result>(owners[owner], put_atom_v,
                                    set_request{key, "v" + key, 0, {}}));
  }
};

} // namespace

TEST_CASE("fan-out: the list collector merges every owner's sorted page and "
          "quits") {
  fan_out_fixture f;
  for (int i = 0; i < 3; ++i)
    f.owners.push_back(f.memory_shard());
  for (auto key : {"state:k:5", "state:k:1", "state:k:3", "state:k:0",
                   "state:k:4", "state:k:2", "order:x:7"})
    f.put(key);
  auto collector = spawn_list_collector(*f.sys, f.map());
  auto page = f.ask_actor<key_page>(collector, list_atom_v,
                                    list_request{"state:", {}, 4});
  REQUIRE(page);
  CHECK(page->keys == std::vector<std::string>{"state:k:0", "state:k:1",
                                               "state:k:2", "state:k:3"});
  CHECK(page->more);
  // A collector answers once: it is gone afterwards.
  auto again = f.ask_actor<key_page>(collector, list_atom_v,
                                     list_request{"state:", {}, 0});
  REQUIRE_FALSE(again);
  CHECK(code_of(again.error()) == state_errc::backend_unavailable);
  SECTION("limit 0 is everything, more is false") {
    auto all = f.ask_actor<key_page>(spawn_list_collector(*f.sys, f.map()),
                                     list_atom_v, list_request{"state:", {}, 0});
    REQUIRE(all);
    CHECK(all->keys.size() == 6);
    CHECK(std::is_sorted(all->keys.begin(), all->keys.end()));
    CHECK_FALSE(all->more);
  }
}

TEST_CASE("fan-out: the ids collector merges the owners' id lists sorted") {
  fan_out_fixture f;
  for (int i = 0; i < 2; ++i)
    f.owners.push_back(f.memory_shard());
  for (auto key : {"order:t:3", "order:t:1", "order:t:2", "order:u:4"})
    f.put(key);
  auto ids = f.ask_actor<id_list>(spawn_ids_collector(*f.sys, f.map()),
                                  list_atom_v, orders_of{"t", {}});
  REQUIRE(ids);
  CHECK(ids->ids == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("fan-out: the batch collector puts answers back in request order") {
  fan_out_fixture f;
  for (int i = 0; i < 3; ++i)
    f.owners.push_back(f.memory_shard());
  for (auto key : {"state:k:1", "state:k:2", "state:k:3"})
    f.put(key);
  batch_request req{{"state:k:3", "state:k:9", "state:k:1", "state:k:2"}};
  auto reply = f.ask_actor<batch_reply>(spawn_batch_collector(*f.sys, f.map()),
                                        batch_get_atom_v, req);
  REQUIRE(reply);
  REQUIRE(reply->entries.size() == 4);
  CHECK(reply->entries[0].value == "vstate:k:3");
  CHECK_FALSE(reply->entries[1].found());
  CHECK(reply->entries[2].value == "vstate:k:1");
  CHECK(reply->entries[3].value == "vstate:k:2");
}

TEST_CASE("fan-out: a batch that skips unreadable values answers every other "
          "key and names them in request order, only those it answered") {
  fan_out_fixture f;
  // Three shards, each a store whose values of some keys cannot be read;
  // the middle one reads in chunks as a network backend does.
  std::vector<testing::damaged_store*> stores;
  for (int i = 0; i < 3; ++i) {
    auto store = std::make_unique<testing::damaged_store>();
    store->pipelined = i == 1;
    stores.push_back(store.get());
    f.owners.push_back(f.shard_over(std::move(store)));
  }
  for (auto key : {"state:k:1", "state:k:2", "state:k:4", "state:k:5",
                   "state:k:7", "state:k:8"})
    f.put(key);
  // Owner by the last character: '4' and '7' are owner 1's, '8' owner 2's.
  stores[1]->damaged = {"state:k:4", "state:k:7"};
  stores[2]->damaged = {"state:k:8"};
  std::vector<std::string> keys{"state:k:7", "state:k:1", "state:k:8",
                                "state:k:9", "state:k:4", "state:k:2",
                                "state:k:5"};

  // Without the flag the first unreadable value fails the batch.
  auto refused = f.ask_actor<batch_reply>(
    spawn_batch_collector(*f.sys, f.map()), batch_get_atom_v,
    batch_request{keys});
  REQUIRE_FALSE(refused);
  CHECK(is_value_error(refused.error()));

  auto reply = f.ask_actor<batch_reply>(
    spawn_batch_collector(*f.sys, f.map()), batch_get_atom_v,
    batch_request{keys, true});
  REQUIRE(reply);
  REQUIRE(reply->entries.size() == keys.size());
  CHECK(reply->unprocessed.empty());
  for (size_t i : {1, 5, 6})
    CHECK(reply->entries[i].value == "v" + keys[i]);
  for (size_t i : {0, 2, 3, 4})
    CHECK_FALSE(reply->entries[i].found());
  // state:k:9 is absent, not unreadable.
  REQUIRE(reply->unreadable.size() == 3);
  CHECK(reply->unreadable[0].key == "state:k:7");
  CHECK(reply->unreadable[1].key == "state:k:8");
  CHECK(reply->unreadable[2].key == "state:k:4");
  for (auto& u : reply->unreadable)
    CHECK_THAT(u.reason, Catch::Contains(u.key) && Catch::Contains("damaged"));

  // A reply cut by its budget names only the unreadable keys it answered:
  // state:k:8 (owner 2 answered it) falls among the unprocessed.
  auto two_values = f.map(caf::infinite, 25); // values are 10 bytes
  auto cut = f.ask_actor<batch_reply>(
    spawn_batch_collector(*f.sys, two_values), batch_get_atom_v,
    batch_request{{"state:k:1", "state:k:4", "state:k:2", "state:k:5",
                   "state:k:8"},
                  true});
  REQUIRE(cut);
  CHECK(cut->entries.size() == 3);
  CHECK(cut->unprocessed
        == std::vector<std::string>{"state:k:5", "state:k:8"});
  REQUIRE(cut->unreadable.size() == 1);
  CHECK(cut->unreadable[0].key == "state:k:4");
}

TEST_CASE("fan-out: an owner that names unreadable keys out of request "
          "order fails the batch instead of passing them for absent") {
  fan_out_fixture f;
  f.owners.push_back(f.stop_at_end(
    caf::actor_cast<state_actor>(f.sys->spawn(misnaming_owner))));
  auto reply = f.ask_actor<batch_reply>(
    spawn_batch_collector(*f.sys, f.map()), batch_get_atom_v,
    batch_request{{"state:k:1", "state:k:2"}, true});
  REQUIRE_FALSE(reply);
  CHECK(code_of(reply.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(reply.error()), Catch::Contains("out of request order"));
}

TEST_CASE("a shard's batch that skips unreadable values and is cut by its "
          "budget names only the keys it answered, reading in chunks or "
          "key by key") {
  for (bool pipelined : {false, true}) {
    fan_out_fixture f;
    auto store = std::make_unique<testing::damaged_store>();
    store->pipelined = pipelined;
    auto* damaged = store.get();
    auto shard = f.shard_over(std::move(store), 25);
    for (auto key : {"state:a", "state:b", "state:c", "state:d", "state:e"})
      REQUIRE(f.ask_actor<write_result>(shard, put_atom_v,
                                        set_request{key, "0123456789", 0, {}}));
    damaged->damaged = {"state:b", "state:e"};
    auto reply = f.ask_actor<batch_reply>(
      shard, batch_get_atom_v,
      batch_request{{"state:a", "state:b", "state:c", "state:d", "state:e"},
                    true});
    INFO("pipelined " << pipelined);
    REQUIRE(reply);
    CHECK(reply->entries.size() == 3); // a, b (unreadable), c
    CHECK(reply->entries[2].value == "0123456789");
    CHECK(reply->unprocessed
          == std::vector<std::string>{"state:d", "state:e"});
    REQUIRE(reply->unreadable.size() == 1);
    CHECK(reply->unreadable[0].key == "state:b");
    // A first value past the budget alone fills the reply (the first key
    // is always answered): an unreadable key after it is unprocessed, not
    // named.
    REQUIRE(f.ask_actor<write_result>(
      shard, put_atom_v, set_request{"state:big", std::string(40, 'x'), 0, {}}));
    auto alone = f.ask_actor<batch_reply>(
      shard, batch_get_atom_v, batch_request{{"state:big", "state:b"}, true});
    REQUIRE(alone);
    CHECK(alone->entries.size() == 1);
    CHECK(alone->unprocessed == std::vector<std::string>{"state:b"});
    CHECK(alone->unreadable.empty());
    // A backend that cannot answer fails the batch, flag or not.
    damaged->down = true;
    auto down = f.ask_actor<batch_reply>(
      shard, batch_get_atom_v, batch_request{{"state:a", "state:c"}, true});
    REQUIRE_FALSE(down);
    CHECK(code_of(down.error()) == state_errc::backend_unavailable);
  }
}

TEST_CASE("fan-out: the health collector says ok when every owner is "
          "healthy, with their quarantined values added up") {
  fan_out_fixture f;
  for (int i = 0; i < 3; ++i)
    f.owners.push_back(f.memory_shard());
  auto h = f.ask_actor<health_report>(
    spawn_health_collector(*f.sys, f.map()), health_atom_v);
  REQUIRE(h);
  CHECK(h->quarantined_values == 0);
  CHECK(h->undecryptable_values == 0);
  f.owners.push_back(f.reporting(2));
  f.owners.push_back(f.reporting(5));
  h = f.ask_actor<health_report>(spawn_health_collector(*f.sys, f.map()),
                                 health_atom_v);
  REQUIRE(h);
  CHECK(h->quarantined_values == 7);
  CHECK(h->undecryptable_values == 70);
}

TEST_CASE("fan-out: an owner that never replies makes the collector answer "
          "with a timeout error") {
  fan_out_fixture f;
  f.owners.push_back(f.memory_shard()); // owns state:k:0, state:k:2, ...
  f.owners.push_back(f.silent());       // owns state:k:1, state:k:3, ...
  f.put("state:k:0");
  auto map = f.map(caf::duration{1s});
  /// Sends the request, checks that no answer comes before the timeout and
  /// returns the one after it.
  auto answer_after_timeout = [&](auto slot) {
    f.sched->run();
    CHECK(f.held->size() == 1); // the silent owner was asked
    CHECK_FALSE(slot->has_value());
    f.advance(999ms);
    CHECK_FALSE(slot->has_value());
    f.advance(1ms);
    REQUIRE(slot->has_value());
    REQUIRE_FALSE(**slot);
    CHECK(code_of((*slot)->error()) == state_errc::timeout);
  };
  SECTION("list") {
    answer_after_timeout(
      f.request<key_page>(spawn_list_collector(*f.sys, map), caf::infinite,
                          list_atom_v, list_request{"state:", {}, 0}));
  }
  SECTION("ids") {
    answer_after_timeout(
      f.request<id_list>(spawn_ids_collector(*f.sys, map), caf::infinite,
                         list_atom_v, orders_of{"t", {}}));
  }
  SECTION("batch_get") {
    answer_after_timeout(f.request<batch_reply>(
      spawn_batch_collector(*f.sys, map), caf::infinite, batch_get_atom_v,
      batch_request{{"state:k:0", "state:k:1"}}));
  }
  SECTION("health") {
    answer_after_timeout(f.request<health_report>(
      spawn_health_collector(*f.sys, map), caf::infinite, health_atom_v));
  }
}
