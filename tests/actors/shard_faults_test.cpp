// Every request answered when a shard or an owner misbehaves: a backend that
// throws, a commit that throws or fails, an owner that never answers or
// answers short. And what a reader may see while a write waits for its
// group commit.

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/message_view.hpp>
#include <caf/result.hpp>
#include <caf/skip.hpp>
#include <catch2/catch.hpp>

#include "actors/router.hpp"
#include "actors/shard.hpp"
#include "backends/key_budget.hpp"
#include "backends/memory/store.hpp"
#include "backends/transaction_check.hpp"
#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"
#include "tests/support/deterministic_fixture.hpp"
#include "tests/support/file_test_support.hpp"
#include "tests/support/watch_support.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using testing::deterministic_fixture;
using testing::deterministic_system;

namespace {

/// How the faulty backend misbehaves; shared by the test and its stores.
struct faults {
  std::string throw_on_get;   // a get of this key throws
  bool hold_commits = false;  // writes wait for a commit (like fsync: always)
  bool commit_throws = false;
  std::chrono::milliseconds commit_takes{0};
  // Called with the key of every get and set, before it runs (a test moves
  // the clock of the deterministic scheduler there: a slow disk).
  std::function<void(const std::string&)> on_get, on_set;
  // A set for which it answers true fails (a backend that refuses it).
  std::function<bool(const std::string&)> refuse_set;
  // A get for which it answers true fails (a backend gone for a moment).
  std::function<bool(const std::string&)> refuse_get;
  // A set for which it answers true is applied, then answered as failed
  // (a reply lost after the backend wrote it): it may have been applied.
  std::function<bool(const std::string&)> lose_set_reply;
  // Whether the store keeps the indexes' snapshot at a stop, as the file
  // backend does; the last one kept (none taken back at a start).
  bool keeps_snapshots = false;
  std::optional<std::string> kept_snapshot;
  // "memory": the router coordinates transactions over several shards, as
  // it does for the memory backend (which this store is underneath).
  std::string backend = "faulty";
  // Expired keys are dropped by the shard's sweep, which names them, as
  // the memory backend does; otherwise the backend is taken to expire keys
  // itself (as Redis does) and the shard tracks their expiries.
  bool sweeps = false;
};

/// A memory store that misbehaves as `faults` says. The only fake backend
/// of these tests: a backend that throws is what no user runs on purpose.
class faulty_store final : public state_store {
public:
  explicit faulty_store(std::shared_ptr<faults> f) : f_(std::move(f)) {}

  std::string_view backend_name() const override { return f_->backend; }

  caf::expected<entry> get(const std::string& key, unix_ms now) override {
    if (f_->on_get)
      f_->on_get(key);
    if (key == f_->throw_on_get)
      throw std::runtime_error("the disk is on fire");
    if (f_->refuse_get && f_->refuse_get(key))
      return make_state_error(state_errc::backend_unavailable,
                              "the backend is gone for a moment");
    return inner_.get(key, now);
  }

  caf::expected<write_result> set(set_request&& req, unix_ms expires,
                                  unix_ms now) override {
    if (f_->on_set)
      f_->on_set(req.key);
    if (f_->refuse_set && f_->refuse_set(req.key))
      return make_state_error(state_errc::backend_error,
                              "the backend refuses this write");
    bool lose_reply = f_->lose_set_reply && f_->lose_set_reply(req.key);
    auto v = inner_.set(std::move(req), expires, now);
    pending_ = v && f_->hold_commits;
    if (v && lose_reply)
      return make_state_error(state_errc::backend_unavailable,
                              "the reply was lost after the write");
    return v;
  }

  caf::expected<bool> erase(const delete_request& req, unix_ms now) override {
    return inner_.erase(req, now);
  }

  caf::expected<key_page> list(const list_request& req, unix_ms now) override {
    return inner_.list(req, now);
  }

  bool has_pending_commit() const override { return pending_; }

  bool keeps_snapshots() const override { return f_->keeps_snapshots; }
  caf::error keep_snapshot(std::string bytes) override {
    f_->kept_snapshot = std::move(bytes);
    return {};
  }

  bool reports_expiries() const override { return f_->sweeps; }
  size_t sweep(unix_ms now, std::vector<std::string>* expired) override {
    return f_->sweeps ? inner_.sweep(now, expired) : 0;
  }
  std::vector<std::string> take_expired_by_writes() override {
    auto noted = inner_.take_expired_by_writes();
    return f_->sweeps ? noted : std::vector<std::string>{};
  }

  caf::error commit() override {
    if (f_->commit_throws)
      throw std::runtime_error("the commit is on fire");
    std::this_thread::sleep_for(f_->commit_takes);
    pending_ = false;
    return {};
  }

private:
  std::shared_ptr<faults> f_;
  memory_store inner_{std::make_shared<key_budget>(0),
                      eviction_policy::reject, 0};
  bool pending_ = false;
};

class faulty_plugin final : public state_backend_plugin {
public:
  explicit faulty_plugin(std::shared_ptr<faults> f) : f_(std::move(f)) {}
  std::string_view name() const override { return "faulty"; }
  bool blocking() const override { return false; }
  caf::expected<store_list> create_stores(const state_config& cfg) override {
    store_list out;
    for (size_t i = 0; i < cfg.shards; ++i)
      out.push_back(std::make_unique<faulty_store>(f_));
    return out;
  }

private:
  std::shared_ptr<faults> f_;
};

/// A whole store over faulty backends, on the deterministic scheduler.
struct faulty_fixture : deterministic_system {
  std::shared_ptr<faults> f = std::make_shared<faults>();
  plugin_registry plugins;
  store_handles store;
  std::vector<std::string> failures;

  explicit faulty_fixture(size_t shards = 1, store_options options = {},
                          std::shared_ptr<faults> given = nullptr,
                          std::vector<index_config> indexes = {}) {
    if (given)
      f = std::move(given);
    plugins.add(std::make_unique<faulty_plugin>(f));
    state_config cfg;
    cfg.type = "faulty";
    cfg.shards = shards;
    cfg.indexes = std::move(indexes);
    options.on_failure = [this](const std::string& why) {
      failures.push_back(why);
    };
    auto started = start_store(*sys, cfg, plugins, options);
    REQUIRE(started);
    store = std::move(*started);
    sched->run();
  }

  ~faulty_fixture() {
    stop_store(store);
    sched->run();
  }
};

set_request put(std::string key, std::string value, int64_t ttl_ms = 0) {
  return set_request{std::move(key), std::move(value), ttl_ms,
                     condition::always()};
}

/// An owner that never answers: every message stays in its mailbox.
caf::behavior never_answers(caf::event_based_actor* self) {
  self->set_default_handler(
    [](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
      return caf::skip;
    });
  return {[](int) {}};
}

/// An owner that answers every batch_get with nothing at all.
caf::behavior answers_short(caf::event_based_actor*) {
  return {[](batch_get_atom, const batch_request&) { return batch_reply{}; }};
}

} // namespace

TEST_CASE("a backend that throws: the request gets an error, the store "
          "reports the failure, later requests get errors too") {
  faulty_fixture fx;
  fx.f->throw_on_get = "state:boom";
  auto boom = fx.ask_actor<entry>(fx.store.router, get_atom_v,
                                  std::string{"state:boom"});
  REQUIRE_FALSE(boom);
  CHECK(message_of(boom.error()).find("the disk is on fire")
        != std::string::npos);
  REQUIRE(fx.failures.size() == 1);
  CHECK(fx.failures[0].find("shard 0") != std::string::npos);
  CHECK(fx.store.status->shard_failed);
  // Nobody waits forever on the dead shard (ask_actor requires an answer).
  auto after = fx.ask_actor<entry>(fx.store.router, get_atom_v,
                                   std::string{"state:other"});
  CHECK_FALSE(after);
}

TEST_CASE("a commit that throws: every held acknowledgement and deferred "
          "read is answered with the error") {
  faulty_fixture fx;
  fx.f->hold_commits = true;
  fx.f->commit_throws = true;
  auto a = fx.request<write_result>(fx.store.router, caf::infinite, put_atom_v,
                                    put("state:a", "1"));
  auto b = fx.request<write_result>(fx.store.router, caf::infinite, put_atom_v,
                                    put("state:b", "2"));
  auto r = fx.request<entry>(fx.store.router, caf::infinite, get_atom_v,
                             std::string{"state:a"});
  fx.sched->run();
  for (auto& slot : {a, b}) {
    REQUIRE(slot->has_value());
    REQUIRE_FALSE(**slot);
    CHECK(message_of((**slot).error()).find("the commit is on fire")
          != std::string::npos);
  }
  REQUIRE(r->has_value());
  CHECK_FALSE(**r);
  CHECK(fx.failures.size() == 1);
}

TEST_CASE("a write's duration includes the wait for its group commit") {
  faulty_fixture fx;
  fx.f->hold_commits = true;
  fx.f->commit_takes = 30ms;
  shard_report got;
  auto sink = fx.sys->spawn([&got](caf::event_based_actor*) -> caf::behavior {
    return {[&got](report_atom, shard_report& r) { got = std::move(r); }};
  });
  fx.stop_at_end(sink);
  // A shard of its own, reporting to `sink`.
  shard_settings settings;
  settings.metrics = caf::actor_cast<metrics_actor>(sink);
  auto shard = fx.stop_at_end(
    spawn_shard(*fx.sys, std::make_unique<faulty_store>(fx.f), false,
                settings));
  REQUIRE(fx.ask_actor<write_result>(shard, put_atom_v, put("state:k", "v")));
  caf::anon_send(shard, tick_atom_v);
  fx.sched->run();
  auto set = static_cast<size_t>(op_kind::set);
  REQUIRE(got.seconds_sum.size() == op_kind_count);
  CHECK(got.seconds_sum[set] >= 0.030);
}

TEST_CASE("no dirty reads: a read waits for the group commit of a write to "
          "its key, and sees the old value when that commit fails") {
  testing::temp_dir dir;
  auto env = std::make_shared<testing::failing_env>();
  auto cfg = testing::file_config_for(dir.path, 1, fsync_policy::always);
  auto stores = open_file_stores(cfg, env);
  REQUIRE(stores);
  deterministic_system ds;
  auto shard = ds.stop_at_end(
    spawn_shard(*ds.sys, std::move((*stores)[0]), false, shard_settings{}));
  REQUIRE(ds.ask_actor<write_result>(shard, put_atom_v, put("state:k", "v1")));
  env->fail_syncs = true;
  auto write = ds.request<write_result>(shard, caf::infinite, put_atom_v,
                                        put("state:k", "v2"));
  auto read = ds.request<entry>(shard, caf::infinite, get_atom_v,
                                std::string{"state:k"});
  auto list = ds.request<batch_reply>(shard, caf::infinite, batch_get_atom_v,
                                      batch_request{{"state:k"}});
  ds.sched->run();
  REQUIRE(write->has_value());
  CHECK_FALSE(**write); // the commit failed: not acknowledged
  REQUIRE(read->has_value());
  REQUIRE(**read);
  CHECK((**read)->value == "v1"); // never the value the failed commit took back
  REQUIRE(list->has_value());
  REQUIRE(**list);
  CHECK((**list)->entries.at(0).value == "v1");
  env->fail_syncs = false;
}

TEST_CASE("a local store's fan-out has a deadline") {
  deterministic_fixture f;
  CHECK(f.store.owners->timeout != caf::infinite);
}

TEST_CASE("a fan-out to an owner that never answers fails with timeout") {
  deterministic_system ds;
  auto good = ds.stop_at_end(spawn_shard(
    *ds.sys,
    std::make_unique<memory_store>(std::make_shared<key_budget>(0),
                                   eviction_policy::reject, 0),
    false, shard_settings{}));
  auto stuck = ds.stop_at_end(
    caf::actor_cast<shard_actor>(ds.sys->spawn(never_answers)));
  fan_out_limits limits;
  limits.timeout = 2s;
  auto router = ds.stop_at_end(spawn_key_router<shard_actor>(
    *ds.sys, local_ownership<shard_actor>({good, stuck}, limits), false));
  auto page = ds.request<key_page>(router, caf::infinite, list_atom_v,
                                   list_request{"state:", {}, 0});
  ds.sched->run();
  CHECK_FALSE(page->has_value()); // still waiting
  ds.advance(2s);
  REQUIRE(page->has_value());
  REQUIRE_FALSE(**page);
  CHECK(code_of((**page).error()) == state_errc::timeout);
}

TEST_CASE("a fan-out owner that answers fewer keys than asked is an error, "
          "never \"absent\"") {
  deterministic_system ds;
  std::vector<shard_actor> owners;
  for (int i = 0; i < 2; ++i)
    owners.push_back(ds.stop_at_end(
      caf::actor_cast<shard_actor>(ds.sys->spawn(answers_short))));
  auto map = local_ownership<shard_actor>(owners);
  auto router = ds.stop_at_end(spawn_key_router<shard_actor>(*ds.sys, map,
                                                             false));
  // Keys of both owners, so that the collector merges their answers.
  batch_request req;
  for (int i = 0; req.keys.size() < 4; ++i) {
    auto key = "state:k" + std::to_string(i);
    if (map->owner_of_key(key) == req.keys.size() % 2)
      req.keys.push_back(key);
  }
  auto reply = ds.ask_actor<batch_reply>(router, batch_get_atom_v, req);
  REQUIRE_FALSE(reply);
  CHECK(code_of(reply.error()) == state_errc::backend_error);
  CHECK(message_of(reply.error()).find("answered 0 of the 2 keys")
        != std::string::npos);
}

TEST_CASE("a transaction over two shards is kept or put back whole, also "
          "when one part's answer is late") {
  store_options options;
  options.fan_out_timeout = std::chrono::milliseconds{1000};
  auto f = std::make_shared<faults>();
  f->backend = "memory";
  faulty_fixture fx{2, options, f};
  std::string k0, k1; // one key of each shard
  for (int i = 0; k0.empty() || k1.empty(); ++i) {
    auto key = "txn:" + std::to_string(i);
    (shard_index(key, 2) == 0 ? k0 : k1) = key;
  }
  // Shard 0 is slow to lock its part (600 ms of the 1 s each part's answer
  // may take), shard 1 slow to apply its own (600 ms more): part 0's time
  // runs out after it applied, while part 1 still applies.
  bool locked_slowly = false;
  fx.f->on_get = [&](const std::string& key) {
    if (key == k0 && !locked_slowly) {
      locked_slowly = true;
      fx.sched->advance_time(std::chrono::milliseconds{600});
    }
  };
  fx.f->on_set = [&](const std::string& key) {
    if (key == k1)
      fx.sched->advance_time(std::chrono::milliseconds{600});
  };
  transaction_request req;
  req.ops = {txn_op::put(k0, "zero"), txn_op::put(k1, "one")};
  auto reply = fx.request<transaction_reply>(fx.store.router, caf::infinite,
                                             transact_atom_v, req);
  fx.sched->run();
  fx.f->on_get = nullptr;
  fx.f->on_set = nullptr;
  fx.advance(std::chrono::seconds{31}); // past every lock's own limit
  REQUIRE(reply->has_value());
  auto a = fx.ask_actor<entry>(fx.store.router, get_atom_v, k0);
  auto b = fx.ask_actor<entry>(fx.store.router, get_atom_v, k1);
  INFO("k0 " << (a ? a->value : message_of(a.error())) << ", k1 "
             << (b ? b->value : message_of(b.error())));
  CHECK(bool{a} == bool{b}); // both parts or neither
  if (**reply)
    CHECK((a && b)); // told applied: both are
  else
    CHECK_FALSE(a); // told not: neither is
}

namespace {

/// The keys whose `status` is `status`, as the index answers.
std::vector<std::string> with_status(faulty_fixture& fx, std::string status) {
  query_request q;
  q.prefix = "txn:";
  q.where.push_back(query_condition{
    "status", static_cast<uint8_t>(query_op::eq),
    {index_value::of(std::move(status))}});
  auto page = fx.ask_actor<query_page>(fx.store.router, query_atom_v, q);
  REQUIRE(page);
  std::vector<std::string> keys;
  for (auto& item : page->items)
    keys.push_back(item.key);
  return keys;
}

std::string status_value(const std::string& status) {
  return R"({"status":")" + status + R"("})";
}

/// A key of shard `shard` of 2.
std::string key_of_shard(size_t shard) {
  for (int i = 0;; ++i)
    if (auto key = "txn:" + std::to_string(i); shard_index(key, 2) == shard)
      return key;
}

/// A store over one shard or two whose backend the router treats as
/// memory, an index of "txn:" statuses, and k0 holding "old"; k1 is a key
/// of the other shard, or of k0's when there is one.
struct put_back_case {
  std::shared_ptr<faults> f = memory_faults();
  faulty_fixture fx;
  std::string k0, k1;

  static std::shared_ptr<faults> memory_faults() {
    auto f = std::make_shared<faults>();
    f->backend = "memory";
    return f;
  }

  explicit put_back_case(bool two_shards)
    : fx{two_shards ? size_t{2} : size_t{1}, store_options{}, f,
         {{"status", "txn:", "/status"}}},
      k0(key_of_shard(0)), k1(two_shards ? key_of_shard(1) : k0 + "b") {
    REQUIRE(fx.ask_actor<write_result>(fx.store.router, put_atom_v,
                                       put(k0, status_value("old"))));
  }
};

} // namespace

TEST_CASE("a transaction whose part did not answer before any part was "
          "kept says it was not applied") {
  store_options options;
  options.fan_out_timeout = std::chrono::milliseconds{1000};
  auto f = std::make_shared<faults>();
  f->backend = "memory";
  faulty_fixture fx{2, options, f};
  auto k0 = key_of_shard(0), k1 = key_of_shard(1);
  // Shard 0 takes longer than its part may to lock: nothing is kept.
  bool slow = false;
  fx.f->on_get = [&](const std::string& key) {
    if (key == k0 && !slow) {
      slow = true;
      fx.sched->advance_time(std::chrono::milliseconds{1500});
    }
  };
  transaction_request req;
  req.ops = {txn_op::put(k0, "zero"), txn_op::put(k1, "one")};
  auto reply = fx.request<transaction_reply>(fx.store.router, caf::infinite,
                                             transact_atom_v, req);
  fx.sched->run();
  fx.f->on_get = nullptr;
  fx.advance(std::chrono::seconds{31});
  REQUIRE(reply->has_value());
  REQUIRE_FALSE(**reply);
  auto& err = (*reply)->error();
  CHECK(code_of(err) == state_errc::timeout);
  INFO(message_of(err));
  CHECK(message_of(err).rfind("transaction not applied: shard 0 did not "
                              "answer its part: ",
                              0)
        == 0);
  CHECK_FALSE(fx.ask_actor<entry>(fx.store.router, get_atom_v, k0));
  CHECK_FALSE(fx.ask_actor<entry>(fx.store.router, get_atom_v, k1));
}

TEST_CASE("a transaction that cannot be put back whole says so, and the "
          "indexes follow what the store holds") {
  bool two_shards = GENERATE(false, true);
  INFO((two_shards ? "over two shards" : "on one shard"));
  put_back_case c{two_shards};
  auto& fx = c.fx;
  auto &k0 = c.k0, &k1 = c.k1;
  // k1's write fails, so k0's is put back; and the restore of k0 fails.
  int sets_of_k0 = 0;
  fx.f->refuse_set = [&](const std::string& key) {
    return key == k1 || (key == k0 && ++sets_of_k0 == 2);
  };
  transaction_request req;
  req.ops = {txn_op::put(k0, status_value("new")),
             txn_op::put(k1, status_value("new"))};
  auto reply = fx.ask_actor<transaction_reply>(fx.store.router,
                                               transact_atom_v, req);
  fx.f->refuse_set = nullptr;
  REQUIRE_FALSE(reply);
  CHECK(is_partly_applied(reply.error()));
  CHECK(message_of(reply.error()).find("'" + k0 + "' could not be put back")
        != std::string::npos);
  auto now = fx.ask_actor<entry>(fx.store.router, get_atom_v, k0);
  REQUIRE(now);
  CHECK(now->value == status_value("new")); // what the reply says
  CHECK(with_status(fx, "new") == std::vector<std::string>{k0});
  CHECK(with_status(fx, "old").empty());
}

TEST_CASE("a transaction put back after a restored key's expiry passed: "
          "the key expires, it is not deleted") {
  auto f = std::make_shared<faults>();
  f->backend = "memory";
  f->sweeps = GENERATE(false, true);
  INFO((f->sweeps ? "the sweep names expired keys"
                  : "the backend expires keys itself"));
  faulty_fixture fx{2, store_options{}, f};
  auto k0 = key_of_shard(0), k1 = key_of_shard(1);
  REQUIRE(fx.ask_actor<write_result>(fx.store.router, put_atom_v,
                                     put(k0, "old", 1000)));
  auto log = std::make_shared<testing::watch_log>();
  auto watcher = fx.stop_at_end(fx.sys->spawn(testing::log_watcher, log));
  REQUIRE(fx.ask_actor<watch_started>(fx.store.hub, watch_atom_v,
                                      watch_request{"txn:", false, 0, 0},
                                      watcher));
  // k1's part is slow and then fails: k0's part, applied over the live
  // entry, is put back after that entry's expiry.
  fx.f->refuse_set = [&](const std::string& key) {
    if (key != k1)
      return false;
    fx.sched->advance_time(std::chrono::milliseconds{1500});
    return true;
  };
  transaction_request req;
  req.ops = {txn_op::put(k0, "new"), txn_op::put(k1, "new")};
  auto reply = fx.ask_actor<transaction_reply>(fx.store.router,
                                               transact_atom_v, req);
  fx.f->refuse_set = nullptr;
  REQUIRE_FALSE(reply);
  fx.advance(std::chrono::seconds{2}); // ticks: the expiry is told
  auto events = log->snapshot();
  auto count = [&](change_cause cause) {
    return std::count_if(events.begin(), events.end(), [&](auto& e) {
      return e.key == k0 && e.why() == cause;
    });
  };
  CHECK(count(change_cause::del) == 0); // it was never deleted
  CHECK(count(change_cause::expire) == 1);
  CHECK_FALSE(fx.ask_actor<entry>(fx.store.router, get_atom_v, k0));
}

TEST_CASE("a transaction put back: a restored key's new version reaches the "
          "indexes, a created key is gone") {
  auto f = std::make_shared<faults>();
  f->backend = "memory";
  faulty_fixture fx{2, store_options{}, f, {{"status", "txn:", "/status"}}};
  auto k0 = key_of_shard(0), k1 = key_of_shard(1);
  auto before = fx.ask_actor<write_result>(fx.store.router, put_atom_v,
                                           put(k0, status_value("old")));
  REQUIRE(before);
  auto log = std::make_shared<testing::watch_log>();
  auto watcher = fx.stop_at_end(fx.sys->spawn(testing::log_watcher, log));
  REQUIRE(fx.ask_actor<watch_started>(fx.store.hub, watch_atom_v,
                                      watch_request{"txn:", false, 0, 0},
                                      watcher));
  fx.f->refuse_set = [&](const std::string& key) { return key == k1; };
  transaction_request req;
  req.ops = {txn_op::put(k0, status_value("new")),
             txn_op::put(k0 + "x", status_value("new")),
             txn_op::put(k1, status_value("new"))};
  auto reply = fx.ask_actor<transaction_reply>(fx.store.router,
                                               transact_atom_v, req);
  fx.f->refuse_set = nullptr;
  REQUIRE_FALSE(reply);
  CHECK_FALSE(is_partly_applied(reply.error()));
  auto now = fx.ask_actor<entry>(fx.store.router, get_atom_v, k0);
  REQUIRE(now);
  CHECK(now->value == status_value("old"));
  CHECK(now->version != before->version); // put back: a new version
  CHECK(with_status(fx, "old") == std::vector<std::string>{k0});
  CHECK(with_status(fx, "new").empty());
  // The watcher hears of the new version; of the key created and removed
  // again it hears nothing.
  fx.advance(std::chrono::milliseconds{50});
  auto events = log->snapshot();
  REQUIRE(events.size() == 1);
  CHECK(events[0].key == k0);
  CHECK(events[0].version == now->version);
  CHECK(events[0].value == status_value("old"));
}

TEST_CASE("a transaction put back whose keys cannot be read back: watchers "
          "are told to resync, and the indexes read them again later") {
  bool two_shards = GENERATE(false, true);
  INFO((two_shards ? "over two shards" : "on one shard"));
  put_back_case c{two_shards};
  auto& fx = c.fx;
  auto &k0 = c.k0, &k1 = c.k1;
  auto log = std::make_shared<testing::watch_log>();
  auto watcher = fx.stop_at_end(fx.sys->spawn(testing::log_watcher, log));
  REQUIRE(fx.ask_actor<watch_started>(fx.store.hub, watch_atom_v,
                                      watch_request{"txn:", false, 0, 0},
                                      watcher));
  // k1's write fails, so k0's is put back (at a new version); reading k0
  // back then fails (the transaction's own reads before went through).
  bool refused = false;
  fx.f->refuse_set = [&](const std::string& key) {
    refused = refused || key == k1;
    return key == k1;
  };
  fx.f->refuse_get = [&](const std::string& key) {
    return refused && key == k0;
  };
  transaction_request req;
  req.ops = {txn_op::put(k0, status_value("new")),
             txn_op::put(k1, status_value("new"))};
  auto reply = fx.ask_actor<transaction_reply>(fx.store.router,
                                               transact_atom_v, req);
  fx.f->refuse_set = nullptr;
  fx.f->refuse_get = nullptr;
  REQUIRE_FALSE(reply);
  fx.advance(std::chrono::milliseconds{50});
  REQUIRE(log->wait_for([&] { return !log->resyncs.empty(); },
                        std::chrono::seconds{0}));
  CHECK_THAT(log->resyncs.back(),
             Catch::Contains("keys of a transaction put back could not be "
                             "read back"));
  // The next ticks read the key again: the indexes hold it as it is.
  fx.advance(std::chrono::milliseconds{1'100});
  CHECK(with_status(fx, "old") == std::vector<std::string>{k0});
  CHECK(with_status(fx, "new").empty());
}

// Found by review: a stop reached each shard behind the requests queued in
// its mailbox and ran them all first, each against the same hung backend
// (a frozen DynamoDB: 30 queued writes, 123 s to stop) or compressing its
// large value, and applied writes whose callers had been told they timed
// out. The stop now overtakes them: none runs, each is answered.
TEST_CASE("a stop overtakes the requests queued at a shard: none runs, each "
          "is answered") {
  faulty_fixture fx;
  int sets = 0;
  fx.f->on_set = [&](const std::string&) { ++sets; };
  std::vector<deterministic_system::reply_slot<write_result>> queued;
  for (int i = 0; i < 20; ++i)
    queued.push_back(fx.request<write_result>(
      fx.store.shards[0], caf::infinite, put_atom_v,
      put("state:queued:" + std::to_string(i), "v")));
  // Each client runs once and sends its request: the shard's mailbox then
  // holds all twenty, none handled yet.
  for (size_t i = 0; i < queued.size(); ++i)
    REQUIRE(fx.sched->try_run_once());
  CHECK(sets == 0);
  stop_store(fx.store);
  fx.sched->run();
  CHECK(sets == 0);
  for (auto& slot : queued) {
    REQUIRE(slot->has_value());
    REQUIRE_FALSE(**slot);
    CHECK_THAT(message_of((*slot)->error()),
               Catch::Contains("stopped before answering"));
  }
}

// Found by review of the stop that overtakes queued requests (9aeeb15): a
// write that failed but may have been applied makes the shard read its key
// into the indexes again, by a message to itself; a stop arriving during
// the write left that message unhandled, and the indexes kept for the next
// start held the key's value from before the write (queries then disagreed
// with the store). They are not kept then: the next start builds them.
TEST_CASE("a stop during an unsure write keeps no indexes that missed it") {
  auto f = std::make_shared<faults>();
  f->keeps_snapshots = true;
  faulty_fixture fx{1, store_options{}, f, {{"status", "order:", "/status"}}};
  REQUIRE(fx.ask_actor<write_result>(
    fx.store.router, put_atom_v,
    put("order:k", "{\"status\":\"before-unsure-write\"}")));
  f->lose_set_reply = [](const std::string& key) { return key == "order:k"; };
  f->on_set = [&](const std::string&) { stop_store(fx.store); };
  auto slot = fx.request<write_result>(
    fx.store.router, caf::infinite, put_atom_v,
    put("order:k", "{\"status\":\"after-unsure-write\"}"));
  fx.sched->run();
  f->on_set = nullptr;
  REQUIRE(slot->has_value());
  CHECK_FALSE(**slot); // failed, and applied
  CHECK_FALSE(f->kept_snapshot);
  // A stop with nothing left to read again keeps them, as before.
  auto g = std::make_shared<faults>();
  g->keeps_snapshots = true;
  {
    faulty_fixture quiet{1, store_options{}, g,
                         {{"status", "order:", "/status"}}};
    REQUIRE(quiet.ask_actor<write_result>(
      quiet.store.router, put_atom_v,
      put("order:k", "{\"status\":\"kept\"}")));
  }
  REQUIRE(g->kept_snapshot);
  CHECK(g->kept_snapshot->find("kept") != std::string::npos);
}
