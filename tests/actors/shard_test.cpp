// The SHARD actor on its own, over a memory store, on the deterministic test
// coordinator: key-value operations and their errors, TTLs on the actor
// clock, the tick (sweep + metrics report), group commit and checkpoints.

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/shard.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/key_budget.hpp"
#include "backends/memory/store.hpp"
#include "backends/plugin.hpp"
#include "tests/support/damaged_store.hpp"
#include "tests/support/deterministic_fixture.hpp"
#include "tests/support/file_test_support.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using testing::deterministic_system;

namespace {

using report_log = std::vector<shard_report>;

/// Stands in for the metrics actor: keeps every report it gets.
caf::behavior report_probe(caf::event_based_actor*,
                           std::shared_ptr<report_log> log) {
  return {[=](report_atom, const shard_report& r) { log->push_back(r); }};
}

std::unique_ptr<state_store> memory() {
  return std::make_unique<memory_store>(std::make_shared<key_budget>(0),
                                        eviction_policy::reject, 0);
}

/// One shard (index 3) and a probe in place of its metrics actor.
struct shard_fixture : deterministic_system {
  std::shared_ptr<report_log> reports = std::make_shared<report_log>();
  shard_actor shard;

  explicit shard_fixture(int64_t default_ttl_ms = 0,
                         std::unique_ptr<state_store> store = memory()) {
    auto probe = stop_at_end(
      caf::actor_cast<metrics_actor>(sys->spawn(report_probe, reports)));
    shard = stop_at_end(spawn_shard(*sys, std::move(store), false,
                                    [&] {
                                      shard_settings s;
                                      s.index = 3;
                                      s.default_ttl_ms = default_ttl_ms;
                                      s.metrics = probe;
                                      return s;
                                    }()));
    sched->run();
  }

  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts&&... xs) {
    return ask_actor<Reply>(shard, std::forward<Ts>(xs)...);
  }

  void tick() {
    (*self)->send(shard, tick_atom_v);
    sched->run();
  }
};

set_request put(std::string key, std::string value, int64_t ttl_ms = 0,
                condition cond = condition::always()) {
  return set_request{std::move(key), std::move(value), ttl_ms, cond};
}

state_errc code(const caf::error& err) {
  return code_of(err);
}

/// How many `op` operations of a report ended with `result`.
uint64_t count(const shard_report& r, op_kind op, state_errc result) {
  return r.results.at(static_cast<size_t>(op) * result_code_count
                      + static_cast<size_t>(result));
}

} // namespace

TEST_CASE("shard: put, get and delete a key") {
  shard_fixture f;
  auto v1 = f.ask<write_result>(put_atom_v, put("state:c:k", "one"));
  REQUIRE(v1);
  auto e = f.ask<entry>(get_atom_v, std::string{"state:c:k"});
  REQUIRE(e);
  CHECK(e->value == "one");
  CHECK(e->version == v1->version);
  CHECK(v1->created);
  auto v2 = f.ask<write_result>(put_atom_v, put("state:c:k", "two"));
  REQUIRE(v2);
  CHECK(v2->version != v1->version);
  CHECK_FALSE(v2->created);
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:k"})->value == "two");
  CHECK(*f.ask<bool>(delete_atom_v, delete_request{"state:c:k", {}}));
  auto gone = f.ask<entry>(get_atom_v, std::string{"state:c:k"});
  REQUIRE_FALSE(gone);
  CHECK(code(gone.error()) == state_errc::not_found);
  CHECK_FALSE(*f.ask<bool>(delete_atom_v, delete_request{"state:c:k", {}}));
  auto v3 = f.ask<write_result>(put_atom_v, put("state:c:k", "three"));
  REQUIRE(v3);
  CHECK(v3->created); // the key was deleted: written anew
}

TEST_CASE("shard: a stale version or create-only on an existing key is "
          "refused with version_mismatch") {
  shard_fixture f;
  auto v1 = f.ask<write_result>(put_atom_v, put("state:c:k", "one"))->version;
  auto v2 = f.ask<write_result>(
    put_atom_v, put("state:c:k", "two", 0, condition::matches(v1)));
  REQUIRE(v2);
  auto stale = f.ask<write_result>(
    put_atom_v, put("state:c:k", "lost", 0, condition::matches(v1)));
  REQUIRE_FALSE(stale);
  CHECK(code(stale.error()) == state_errc::version_mismatch);
  auto create = f.ask<write_result>(
    put_atom_v, put("state:c:k", "lost", 0, condition::absent()));
  REQUIRE_FALSE(create);
  CHECK(code(create.error()) == state_errc::version_mismatch);
  auto stale_delete = f.ask<bool>(
    delete_atom_v, delete_request{"state:c:k", condition::matches(v1)});
  REQUIRE_FALSE(stale_delete);
  CHECK(code(stale_delete.error()) == state_errc::version_mismatch);
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:k"})->value == "two");
  CHECK(*f.ask<bool>(delete_atom_v, delete_request{"state:c:k",
                                                   condition::matches(
                                                     v2->version)}));
}

TEST_CASE("shard: a set or a delete with a condition of unknown kind is "
          "refused with bad_request, nothing written") {
  // Straight to the store, and through a pipelined batch.
  bool pipelined = GENERATE(false, true);
  INFO((pipelined ? "pipelined" : "one call per write"));
  auto store = std::make_unique<testing::damaged_store>();
  store->pipelined = pipelined;
  shard_fixture f{0, std::move(store)};
  auto v = f.ask<write_result>(put_atom_v, put("state:c:k", "one"));
  REQUIRE(v);
  // Kind 3 is neither if_version nor if_absent; taken as none, it would be
  // a blind write of a key whose version the sender meant to check.
  condition unknown{3, v->version + 1000};
  auto set = f.ask<write_result>(put_atom_v,
                                 put("state:c:k", "lost", 0, unknown));
  REQUIRE_FALSE(set);
  CHECK(code(set.error()) == state_errc::bad_request);
  auto create = f.ask<write_result>(put_atom_v,
                                    put("state:c:new", "lost", 0, unknown));
  REQUIRE_FALSE(create);
  CHECK(code(create.error()) == state_errc::bad_request);
  auto erase = f.ask<bool>(delete_atom_v, delete_request{"state:c:k", unknown});
  REQUIRE_FALSE(erase);
  CHECK(code(erase.error()) == state_errc::bad_request);
  auto kept = f.ask<entry>(get_atom_v, std::string{"state:c:k"});
  REQUIRE(kept);
  CHECK(kept->value == "one");
  CHECK(kept->version == v->version);
  CHECK_FALSE(f.ask<entry>(get_atom_v, std::string{"state:c:new"}));
}

TEST_CASE("shard: invalid keys and negative TTLs are refused") {
  shard_fixture f;
  auto bad_key = f.ask<write_result>(put_atom_v, put("tab\there", "v"));
  REQUIRE_FALSE(bad_key);
  CHECK(code(bad_key.error()) == state_errc::invalid_key);
  auto bad_ttl = f.ask<write_result>(put_atom_v, put("state:c:k", "v", -5));
  REQUIRE_FALSE(bad_ttl);
  CHECK(code(bad_ttl.error()) == state_errc::bad_request);
  auto typed = f.ask<version_t>(put_atom_v, fill{"o:1", "0xa", "f", 0});
  REQUIRE_FALSE(typed);
  CHECK(code(typed.error()) == state_errc::invalid_key);
}

TEST_CASE("shard: a TTL near INT64_MAX saturates instead of overflowing") {
  shard_fixture f;
  auto huge = std::numeric_limits<int64_t>::max() - 1;
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:forever", "v", huge)));
  f.advance(std::chrono::hours{24});
  auto e = f.ask<entry>(get_atom_v, std::string{"state:c:forever"});
  REQUIRE(e);
  CHECK(e->value == "v");
  CHECK(e->expires_at_ms == std::numeric_limits<int64_t>::max());
}

TEST_CASE("shard: an absolute expiry is kept as given, ttl_ms ignored") {
  shard_fixture f;
  auto probe = put("state:c:probe", "p", 1000);
  REQUIRE(f.ask<write_result>(put_atom_v, probe));
  auto now = f.ask<entry>(get_atom_v, std::string{"state:c:probe"})
               ->expires_at_ms
             - 1000;
  auto at = put("state:c:at", "v", 999'999);
  at.expires_at_ms = now + 2500;
  REQUIRE(f.ask<write_result>(put_atom_v, at));
  auto e = f.ask<entry>(get_atom_v, std::string{"state:c:at"});
  REQUIRE(e);
  CHECK(e->expires_at_ms == now + 2500);
  f.advance(2499ms);
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:at"}));
  f.advance(1ms);
  CHECK_FALSE(f.ask<entry>(get_atom_v, std::string{"state:c:at"}));
  auto bad = put("state:c:bad", "v");
  bad.expires_at_ms = -1;
  auto refused = f.ask<write_result>(put_atom_v, bad);
  REQUIRE_FALSE(refused);
  CHECK(code(refused.error()) == state_errc::bad_request);
}

TEST_CASE("shard: typed records live under their keys") {
  shard_fixture f;
  REQUIRE(f.ask<version_t>(put_atom_v, fill{"o1", "0xb", "f2", 0}));
  REQUIRE(f.ask<version_t>(put_atom_v, fill{"o1", "0xa", "f1", 0}));
  CHECK(f.ask<entry>(get_atom_v, std::string{"fill:o1:0xa"})->value == "f1");
  CHECK(f.ask<fill>(get_atom_v, fill_ref{"o1", "0xb"})->data == "f2");
  CHECK(f.ask<id_list>(list_atom_v, fills_of{"o1", {}})->ids
        == std::vector<std::string>{"0xa", "0xb"});
}

TEST_CASE("shard: a TTL runs on the actor clock, the tick sweeps and "
          "reports") {
  shard_fixture f;
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:short", "x", 1500)));
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:forever", "y", 0)));
  f.advance(1499ms);
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:short"}));
  f.advance(1ms);
  auto gone = f.ask<entry>(get_atom_v, std::string{"state:c:short"});
  REQUIRE_FALSE(gone);
  CHECK(code(gone.error()) == state_errc::not_found);
  auto page = f.ask<key_page>(list_atom_v, list_request{"state:", {}, 0});
  REQUIRE(page);
  CHECK(page->keys == std::vector<std::string>{"state:c:forever"});
  // Nothing is reported between ticks.
  CHECK(f.reports->empty());
  f.tick();
  REQUIRE(f.reports->size() == 1);
  auto& r = f.reports->front();
  CHECK(r.shard == 3);
  CHECK(r.backend == "memory");
  CHECK(r.keys == 1); // the expired key was swept
  CHECK(count(r, op_kind::set, state_errc::none) == 2);
  CHECK(count(r, op_kind::get, state_errc::none) == 1);
  CHECK(count(r, op_kind::get, state_errc::not_found) == 1);
  CHECK(count(r, op_kind::list, state_errc::none) == 1);
  SECTION("each report holds only what happened since the last one") {
    REQUIRE(f.ask<entry>(get_atom_v, std::string{"state:c:forever"}));
    f.tick();
    REQUIRE(f.reports->size() == 2);
    auto& next = f.reports->back();
    CHECK(count(next, op_kind::get, state_errc::none) == 1);
    CHECK(count(next, op_kind::set, state_errc::none) == 0);
    CHECK(next.keys == 1);
  }
}

TEST_CASE("shard: the default TTL applies to writes that name none") {
  shard_fixture f{10'000};
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:d", "x", default_ttl)));
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:n", "x", 0)));
  f.advance(9s);
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:d"}));
  f.advance(1s);
  CHECK_FALSE(f.ask<entry>(get_atom_v, std::string{"state:c:d"}));
  CHECK(f.ask<entry>(get_atom_v, std::string{"state:c:n"}));
}

namespace {

/// A memory store whose writes become durable only on commit() (like the
/// file backend's log), with a commit that can be made to fail.
class committing_store final : public state_store {
public:
  struct counters {
    int commits = 0;
    int checkpoints = 0;
    caf::error commit_error;
    bool keeps_writes = false; // a failed commit leaves them applied
  };

  explicit committing_store(std::shared_ptr<counters> c) : c_(std::move(c)) {}

  std::string_view backend_name() const override { return "committing"; }
  caf::expected<entry> get(const std::string& key, unix_ms now) override {
    return mem_.get(key, now);
  }
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override {
    dirty_ = true;
    return mem_.set(std::move(req), expires_at, now);
  }
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override {
    dirty_ = true;
    return mem_.erase(req, now);
  }
  caf::expected<key_page> list(const list_request& req, unix_ms now) override {
    return mem_.list(req, now);
  }
  bool has_pending_commit() const override { return dirty_; }
  bool failed_commit_keeps_writes() const override {
    return c_->keeps_writes;
  }
  caf::error commit() override {
    ++c_->commits;
    // Nothing to make durable: nothing can fail.
    return std::exchange(dirty_, false) ? c_->commit_error : caf::error{};
  }
  caf::error checkpoint() override {
    ++c_->checkpoints;
    return {};
  }

private:
  std::shared_ptr<counters> c_;
  memory_store mem_{std::make_shared<key_budget>(0), eviction_policy::reject,
                    0};
  bool dirty_ = false;
};

} // namespace

TEST_CASE("shard: writes that arrive together share one commit and carry "
          "its outcome") {
  auto c = std::make_shared<committing_store::counters>();
  shard_fixture f{0, std::make_unique<committing_store>(c)};
  SECTION("the commit succeeds: every writer gets its version") {
    auto a = f.request<write_result>(f.shard, caf::infinite, put_atom_v,
                                     put("state:c:a", "1"));
    auto b = f.request<write_result>(f.shard, caf::infinite, put_atom_v,
                                     put("state:c:b", "2"));
    f.sched->run();
    CHECK(c->commits == 1);
    REQUIRE(a->has_value());
    REQUIRE(b->has_value());
    CHECK(**a);
    CHECK(**b);
  }
  SECTION("the commit fails: every writer gets the error") {
    c->commit_error = make_state_error(state_errc::io_error, "disk full");
    auto a = f.request<write_result>(f.shard, caf::infinite, put_atom_v,
                                     put("state:c:a", "1"));
    auto b = f.request<bool>(f.shard, caf::infinite, delete_atom_v,
                             delete_request{"state:c:b", {}});
    f.sched->run();
    CHECK(c->commits == 1);
    REQUIRE(a->has_value());
    REQUIRE_FALSE(**a);
    CHECK(code((*a)->error()) == state_errc::io_error);
    REQUIRE(b->has_value());
    REQUIRE_FALSE(**b);
    CHECK(code((*b)->error()) == state_errc::io_error);
  }
  SECTION("checkpoint_atom checkpoints the store") {
    (*f.self)->send(f.shard, checkpoint_atom_v);
    f.sched->run();
    CHECK(c->checkpoints == 1);
  }
}

namespace {

/// A memory store that tells whether it was closed and whether it was
/// destroyed, and says what the test wants of only_frees_after_close.
class lifetime_store final : public state_store {
public:
  struct events {
    bool only_frees = true;
    bool closed = false;
    bool destroyed = false;
  };

  explicit lifetime_store(std::shared_ptr<events> e) : e_(std::move(e)) {}
  ~lifetime_store() override { e_->destroyed = true; }

  std::string_view backend_name() const override { return "lifetime"; }
  caf::expected<entry> get(const std::string& key, unix_ms now) override {
    return mem_.get(key, now);
  }
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override {
    return mem_.set(std::move(req), expires_at, now);
  }
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override {
    return mem_.erase(req, now);
  }
  caf::expected<key_page> list(const list_request& req, unix_ms now) override {
    return mem_.list(req, now);
  }
  caf::error close() override {
    e_->closed = true;
    return {};
  }
  bool only_frees_after_close() const override { return e_->only_frees; }

private:
  std::shared_ptr<events> e_;
  memory_store mem_{std::make_shared<key_budget>(0), eviction_policy::reject,
                    0};
};

} // namespace

TEST_CASE("shard: with memory_to_exit, a stopped shard leaves a closed store "
          "that only frees memory to the exit, and destroys any other") {
  struct run {
    bool memory_to_exit;
    bool only_frees;
    bool destroyed;
  };
  for (auto r : {run{false, true, true}, run{true, true, false},
                 run{true, false, true}}) {
    CAPTURE(r.memory_to_exit, r.only_frees);
    auto e = std::make_shared<lifetime_store::events>();
    e->only_frees = r.only_frees;
    deterministic_system d;
    shard_settings s;
    s.memory_to_exit = r.memory_to_exit;
    auto shard = spawn_shard(*d.sys, std::make_unique<lifetime_store>(e),
                             false, s);
    d.sched->run();
    REQUIRE(d.ask_actor<write_result>(shard, put_atom_v, put("k", "v")));
    caf::anon_send_exit(shard, caf::exit_reason::user_shutdown);
    d.sched->run();
    CHECK(e->closed);
    CHECK(e->destroyed == r.destroyed);
  }
}

TEST_CASE("shard: a tick sweeps a file store that holds writes for its "
          "group commit") {
  // Under a steady write load a tick almost always finds writes waiting
  // for their commit, and a file store sweeps only once they settled.
  testing::temp_dir dir;
  auto opened = testing::open_store(
    testing::file_config_for(dir.path, 1, fsync_policy::always));
  REQUIRE(opened);
  shard_fixture f{0, std::move(opened->stores[0])};
  REQUIRE(f.ask<write_result>(put_atom_v, put("state:c:short", "x", 1000)));
  f.advance(1000ms);
  (*f.self)->send(f.shard, put_atom_v, put("state:c:other", "y"));
  (*f.self)->send(f.shard, tick_atom_v);
  f.sched->run();
  REQUIRE(f.reports->size() == 1);
  CHECK(f.reports->back().keys == 1);
}

namespace {

/// Stands in for the watch hub: keeps the size of every changes message.
caf::behavior changes_probe(caf::event_based_actor*,
                            std::shared_ptr<std::vector<size_t>> sizes) {
  return {
    [=](changes_atom, const std::vector<change_event>& batch) {
      sizes->push_back(batch.size());
    },
  };
}

/// Stands in for the watch hub: keeps every change it is handed.
caf::behavior event_probe(caf::event_based_actor*,
                          std::shared_ptr<std::vector<change_event>> events) {
  return {
    [=](changes_atom, const std::vector<change_event>& batch) {
      events->insert(events->end(), batch.begin(), batch.end());
    },
  };
}

/// A shard over `store` whose changes go to an event_probe.
struct watched_shard : testing::deterministic_system {
  std::shared_ptr<std::vector<change_event>> events
    = std::make_shared<std::vector<change_event>>();
  shard_actor shard;

  explicit watched_shard(std::unique_ptr<state_store> store) {
    auto hub = stop_at_end(
      caf::actor_cast<watch_hub_actor>(sys->spawn(event_probe, events)));
    shard = stop_at_end(spawn_shard(*sys, std::move(store), false, [&] {
      shard_settings s;
      s.hub = hub;
      return s;
    }()));
    sched->run();
  }

  size_t count(const std::string& key, change_cause cause) const {
    return std::count_if(events->begin(), events->end(),
                         [&](const change_event& e) {
                           return e.key == key && e.why() == cause;
                         });
  }
};

} // namespace

TEST_CASE("shard: a failed commit's changes reach the watchers only when "
          "the store keeps its writes") {
  auto c = std::make_shared<committing_store::counters>();
  c->commit_error = make_state_error(state_errc::io_error, "sync failed");
  bool keeps = GENERATE(true, false);
  c->keeps_writes = keeps;
  watched_shard w{std::make_unique<committing_store>(c)};
  auto put_reply = w.request<write_result>(w.shard, caf::infinite, put_atom_v,
                                           put("state:c:a", "1"));
  w.sched->run();
  REQUIRE(put_reply->has_value());
  CHECK_FALSE(**put_reply); // the writer hears the error either way
  // Kept: readable now, so watchers (and indexes) must know of it.
  CHECK(w.count("state:c:a", change_cause::put) == (keeps ? 1u : 0u));
}

TEST_CASE("shard: a sweep's expire events survive the failed commit of a "
          "write that came right after it") {
  auto c = std::make_shared<committing_store::counters>();
  watched_shard w{std::make_unique<committing_store>(c)};
  REQUIRE(w.ask_actor<write_result>(w.shard, put_atom_v,
                                    put("state:c:ttl", "x", 1000)));
  w.advance(1000ms);
  c->commit_error = make_state_error(state_errc::io_error, "sync failed");
  (*w.self)->send(w.shard, tick_atom_v);
  (*w.self)->send(w.shard, put_atom_v, put("state:c:later", "y"));
  w.sched->run();
  CHECK(w.count("state:c:ttl", change_cause::expire) == 1);
  CHECK(w.count("state:c:later", change_cause::put) == 0);
}

namespace {

/// A fresh store of `type` (memory, file, rocksdb) for one shard, its
/// files (if any) under `dir`.
std::unique_ptr<state_store> store_of_type(const std::string& type,
                                           const std::string& dir) {
  if (type == "memory")
    return memory();
  auto cfg = testing::file_config_for(dir, 1, fsync_policy::always);
  cfg.type = type;
  cfg.rocksdb.base_path = dir;
  auto stores = compiled_plugins().find(type)->create_stores(cfg);
  INFO((stores ? std::string{} : message_of(stores.error())));
  REQUIRE(stores);
  return std::move((*stores)[0]);
}

/// Where in `events` the first change of `key` by `cause` is (npos: none).
size_t position_of(const std::vector<change_event>& events,
                   const std::string& key, change_cause cause) {
  for (size_t i = 0; i < events.size(); ++i)
    if (events[i].key == key && events[i].why() == cause)
      return i;
  return std::string::npos;
}

} // namespace

TEST_CASE("shard: a write or a delete that meets a key past its expiry, "
          "before the sweep, sends its expire event first") {
  // The sweep no longer finds such a key, and a delete of it reports
  // nothing deleted: watchers (and the indexes, fed the same changes) never
  // heard that it expired, and kept it.
  std::vector<std::string> types{"memory", "file"};
#if SOLVER_STATE_WITH_ROCKSDB
  types.push_back("rocksdb");
#endif
  for (auto& type : types) {
    INFO("backend " << type);
    testing::temp_dir dir;
    watched_shard w{store_of_type(type, dir.path)};
    for (auto key : {"state:c:del", "state:c:put", "state:c:txn"})
      REQUIRE(w.ask_actor<write_result>(w.shard, put_atom_v,
                                        put(key, "old", 1000)));
    w.sched->run();
    w.events->clear();
    w.advance(1001ms); // past their expiry; no tick has swept yet
    auto gone = w.ask_actor<bool>(w.shard, delete_atom_v,
                                  delete_request{"state:c:del", {}});
    REQUIRE(gone);
    CHECK_FALSE(*gone); // it had expired: nothing was deleted
    REQUIRE(w.ask_actor<write_result>(w.shard, put_atom_v,
                                      put("state:c:put", "new")));
    transaction_request txn;
    txn.ops = {txn_op::put("state:c:txn", "new")};
    REQUIRE(w.ask_actor<transaction_reply>(w.shard, transact_atom_v, txn));
    (*w.self)->send(w.shard, tick_atom_v); // the sweep: nothing left
    w.sched->run();
    auto& ev = *w.events;
    CHECK(w.count("state:c:del", change_cause::expire) == 1);
    CHECK(w.count("state:c:del", change_cause::del) == 0);
    for (auto key : {"state:c:put", "state:c:txn"}) {
      INFO(key);
      CHECK(w.count(key, change_cause::expire) == 1);
      CHECK(w.count(key, change_cause::put) == 1);
      CHECK(position_of(ev, key, change_cause::expire)
            < position_of(ev, key, change_cause::put));
    }
  }
}

TEST_CASE("shard: an lru eviction of a key past its expiry sends its expire "
          "event") {
  watched_shard w{std::make_unique<memory_store>(
    std::make_shared<key_budget>(1), eviction_policy::lru, 0)};
  REQUIRE(w.ask_actor<write_result>(w.shard, put_atom_v,
                                    put("state:c:old", "x", 1000)));
  w.advance(1001ms); // expired; no tick has swept it
  REQUIRE(w.ask_actor<write_result>(w.shard, put_atom_v,
                                    put("state:c:new", "y")));
  w.sched->run();
  CHECK(w.count("state:c:old", change_cause::expire) == 1);
  // A live key evicted is no event (docs/api.md).
  REQUIRE(w.ask_actor<write_result>(w.shard, put_atom_v,
                                    put("state:c:newer", "z")));
  w.sched->run();
  CHECK(w.count("state:c:new", change_cause::expire) == 0);
  CHECK(w.count("state:c:new", change_cause::del) == 0);
}

TEST_CASE("shard: a sweep of more keys than its bound goes on in steps, "
          "each its own message to the watch hub") {
  auto sizes = std::make_shared<std::vector<size_t>>();
  testing::deterministic_system sys;
  auto hub = sys.stop_at_end(
    caf::actor_cast<watch_hub_actor>(sys.sys->spawn(changes_probe, sizes)));
  auto shard = sys.stop_at_end(spawn_shard(*sys.sys, memory(), false, [&] {
    shard_settings s;
    s.hub = hub;
    return s;
  }()));
  sys.sched->run();
  size_t count = state_store::max_sweep_keys * 2 + 500;
  for (size_t i = 0; i < count; ++i)
    (*sys.self)->send(shard, put_atom_v,
                      put("state:c:" + std::to_string(i), "v", 1000));
  sys.sched->run();
  sizes->clear(); // the puts
  sys.advance(1000ms);
  (*sys.self)->send(shard, tick_atom_v);
  sys.sched->run();
  size_t expired = 0;
  for (auto n : *sizes) {
    CHECK(n <= state_store::max_sweep_keys);
    expired += n;
  }
  CHECK(sizes->size() >= 3);
  CHECK(expired == count);
  auto page = sys.ask_actor<key_page>(shard, list_atom_v,
                                      list_request{"state:", {}, 0});
  REQUIRE(page);
  CHECK(page->keys.empty());
}
