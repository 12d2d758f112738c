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

  state_actor reporting(uint64_t quarantined) {
    return stop_at_end(caf::actor_cast<state_actor>(
      sys->spawn(reporting_owner, quarantined)));
  }

  state_actor silent() {
    return stop_at_end(
      caf::actor_cast<state_actor>(sys->spawn(silent_owner, held)));
  }

  ownership_ptr<state_actor> map(caf::duration timeout = caf::infinite) {
    auto m = std::make_shared<ownership<state_actor>>();
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
