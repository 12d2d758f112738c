// Delete by prefix on one SHARD over a memory store: what it removes and
// counts, its limit, and that it runs in chunks between which the shard
// answers other requests (deterministically on the test coordinator, and
// measured with real threads: a GET's latency during a large deletion).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <catch2/catch.hpp>

#include "actors/shard.hpp"
#include "backends/key_budget.hpp"
#include "backends/memory/store.hpp"
#include "messages/protocol.hpp"
#include "tests/support/deterministic_fixture.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using testing::deterministic_system;

namespace {

std::unique_ptr<memory_store> memory() {
  return std::make_unique<memory_store>(std::make_shared<key_budget>(0),
                                        eviction_policy::reject, 0);
}

/// "p:0000042": keys that sort in the order they are numbered.
std::string numbered(const std::string& prefix, int i) {
  auto digits = std::to_string(i);
  return prefix + std::string(7 - std::min<size_t>(7, digits.size()), '0')
         + digits;
}

/// Writes `n` keys under `prefix` straight into the store, before a shard
/// owns it: far faster than n messages.
void prefill(memory_store& s, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i)
    REQUIRE(s.set(set_request{numbered(prefix, i), "v", 0, {}}, 0, 1));
}

/// A memory store that remembers how many keys it held when get() last
/// ran: when a GET was served relative to the deletion's chunks.
class observed_store : public state_store {
public:
  explicit observed_store(std::unique_ptr<memory_store> inner)
    : inner_(std::move(inner)) {
  }

  std::optional<uint64_t> keys_at_get;

  std::string_view backend_name() const override {
    return inner_->backend_name();
  }
  caf::expected<entry> get(const std::string& key, unix_ms now) override {
    keys_at_get = inner_->stats().keys;
    return inner_->get(key, now);
  }
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override {
    return inner_->set(std::move(req), expires_at, now);
  }
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override {
    return inner_->erase(req, now);
  }
  caf::expected<key_page> list(const list_request& req, unix_ms now) override {
    return inner_->list(req, now);
  }
  store_stats stats() const override {
    return inner_->stats();
  }

private:
  std::unique_ptr<memory_store> inner_;
};

struct shard_fixture : deterministic_system {
  state_store* store = nullptr; // owned by the shard; read between steps
  observed_store* observer = nullptr;
  shard_actor shard;

  explicit shard_fixture(int keys_under_p = 0, bool observe = false) {
    auto s = memory();
    prefill(*s, "p:", keys_under_p);
    REQUIRE(s->set(set_request{"q", "outside", 0, {}}, 0, 1));
    std::unique_ptr<state_store> owned;
    if (observe) {
      auto o = std::make_unique<observed_store>(std::move(s));
      observer = o.get();
      owned = std::move(o);
    } else {
      owned = std::move(s);
    }
    store = owned.get();
    shard = stop_at_end(spawn_shard(*sys, std::move(owned), false, {}));
    sched->run();
  }

  uint64_t keys() const {
    return store->stats().keys;
  }
};

} // namespace

TEST_CASE("shard: delete by prefix removes the live keys under it, counts "
          "them and keeps the rest") {
  shard_fixture f;
  for (auto key : {"a", "a:", "a:1", "a:2", "a:x:y", "a;", "a9", "A:1", "b:1"})
    REQUIRE(f.ask_actor<write_result>(f.shard, put_atom_v,
                                      set_request{key, "v", 0, {}}));
  // Expires 10 ms from now on the actor clock: not counted once it has.
  REQUIRE(f.ask_actor<write_result>(f.shard, put_atom_v,
                                    set_request{"a:exp", "v", 10, {}}));
  f.advance(20ms);
  auto r = f.ask_actor<delete_prefix_result>(f.shard, delete_atom_v,
                                             delete_prefix_request{"a:", 0});
  REQUIRE(r);
  CHECK(r->deleted == 4);
  CHECK_FALSE(r->more);
  auto left = f.ask_actor<key_page>(f.shard, list_atom_v,
                                    list_request{"", {}, 0});
  REQUIRE(left);
  CHECK(left->keys
        == std::vector<std::string>{"A:1", "a", "a9", "a;", "b:1", "q"});
  auto again = f.ask_actor<delete_prefix_result>(
    f.shard, delete_atom_v, delete_prefix_request{"a:", 0});
  REQUIRE(again);
  CHECK(again->deleted == 0);
}

TEST_CASE("shard: delete by prefix refuses an empty prefix") {
  shard_fixture f{3};
  auto r = f.ask_actor<delete_prefix_result>(f.shard, delete_atom_v,
                                             delete_prefix_request{"", 0});
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == state_errc::bad_request);
  CHECK(f.keys() == 4);
}

TEST_CASE("shard: delete by prefix stops at its limit and says more") {
  shard_fixture f{1'200};
  uint64_t total = 0;
  int calls = 0;
  for (bool more = true; more; ++calls) {
    REQUIRE(calls < 10);
    auto r = f.ask_actor<delete_prefix_result>(
      f.shard, delete_atom_v, delete_prefix_request{"p:", 500});
    REQUIRE(r);
    CHECK(r->deleted <= 500);
    total += r->deleted;
    more = r->more;
  }
  CHECK(calls == 3); // 500 + 500 + 200
  CHECK(total == 1'200);
  CHECK(f.keys() == 1);
}

TEST_CASE("shard: a request that arrives during a delete by prefix is "
          "served between two of its chunks") {
  shard_fixture f{5'000, true};
  auto deletion = f.request<delete_prefix_result>(
    f.shard, caf::infinite, delete_atom_v, delete_prefix_request{"p:", 0});
  // The test coordinator runs one message per step: run until the first
  // chunk is gone, then put a GET into the shard's mailbox, behind the
  // deletion's next step.
  while (f.keys() == 5'001)
    REQUIRE(f.sched->try_run_once());
  auto got = std::make_shared<std::optional<caf::expected<entry>>>();
  auto client = f.stop_at_end(f.sys->spawn(
    [shard = f.shard](caf::event_based_actor* c,
                      std::shared_ptr<std::optional<caf::expected<entry>>>
                        slot) {
      c->request(shard, caf::infinite, get_atom_v, std::string{"q"})
        .then([slot](entry& e) { slot->emplace(std::move(e)); },
              [slot](caf::error& err) { slot->emplace(std::move(err)); });
    },
    got));
  REQUIRE(f.sched->prioritize(client));
  REQUIRE(f.sched->try_run_once());
  f.sched->run();
  REQUIRE(got->has_value());
  REQUIRE(**got);
  CHECK((**got)->value == "outside");
  // The GET ran with keys of the prefix still there: the deletion was not
  // one giant step.
  REQUIRE(f.observer->keys_at_get);
  CHECK(*f.observer->keys_at_get > 1);
  CHECK(*f.observer->keys_at_get < 5'001);
  REQUIRE(deletion->has_value());
  REQUIRE(**deletion);
  CHECK((**deletion)->deleted == 5'000);
  CHECK(f.keys() == 1);
}

TEST_CASE("shard: GETs keep being answered quickly while 200k keys under "
          "a prefix are deleted") {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  constexpr int n = 200'000;
  auto s = memory();
  prefill(*s, "p:", n);
  REQUIRE(s->set(set_request{"q", "outside", 0, {}}, 0, 1));
  auto shard = spawn_shard(sys, std::move(s), false, {});
  std::atomic<bool> deleting{true};
  std::atomic<long long> max_get_us{0};
  std::atomic<int> gets{0};
  std::thread reader{[&] {
    caf::scoped_actor self{sys};
    while (deleting.load()) {
      auto start = std::chrono::steady_clock::now();
      self->request(shard, 10s, get_atom_v, std::string{"q"})
        .receive([](const entry&) {},
                 [](caf::error& err) { FAIL(message_of(err)); });
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
      if (us > max_get_us.load())
        max_get_us = us;
      ++gets;
    }
  }};
  // Let the reader get going first, so its GETs overlap the whole deletion.
  while (gets.load() < 10)
    std::this_thread::sleep_for(1ms);
  caf::scoped_actor self{sys};
  auto start = std::chrono::steady_clock::now();
  uint64_t deleted = 0;
  self
    ->request(shard, 60s, delete_atom_v, delete_prefix_request{"p:", 0})
    .receive([&](const delete_prefix_result& r) { deleted = r.deleted; },
             [](caf::error& err) { FAIL(message_of(err)); });
  auto took_us = std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  int gets_during = gets.load() - 10;
  deleting = false;
  reader.join();
  caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
  CHECK(deleted == n);
  auto rate = static_cast<double>(n) / (static_cast<double>(took_us) / 1e6);
  WARN("deleted " << n << " keys in " << took_us / 1000 << " ms ("
                  << static_cast<long long>(rate) << " keys/s); "
                  << gets_during << " GETs answered meanwhile, the slowest in "
                  << max_get_us.load() / 1000.0 << " ms");
  CHECK(gets_during > 10);
  // A GET waits for at most a chunk or two, not for the whole deletion.
  CHECK(max_get_us.load() * 5 < took_us);
}
