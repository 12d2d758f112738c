// Transactions on every backend: conditions checked before anything is
// applied, the bank-transfer invariant under concurrent conflicting
// transactions (within one placement group and across shards), and readers
// that never see half of one.

#include "tests/support/conformance_transactions.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "backends/shard_placement.hpp"
#include "messages/protocol.hpp"

namespace solver_state::testing {

namespace {

using namespace std::chrono_literals;

pending_op set_op(std::string key, std::string value,
                  condition cond = condition::always(), unix_ms expires = 0) {
  pending_op op;
  op.kind = pending_op::set;
  op.write = set_request{std::move(key), std::move(value), 0, cond, 0};
  op.expires_at = expires;
  return op;
}

pending_op erase_op(std::string key, condition cond = condition::always()) {
  pending_op op;
  op.kind = pending_op::erase;
  op.removal = delete_request{std::move(key), cond};
  return op;
}

version_t version_of(state_store& s, const std::string& key, unix_ms now) {
  auto e = s.get(key, now);
  return e ? e->version : 0;
}

std::string value_of(state_store& s, const std::string& key, unix_ms now) {
  auto e = s.get(key, now);
  return e ? e->value : std::string{"<absent>"};
}

/// Applies `ops` and makes them durable, as a shard would.
caf::error transact(state_store& s, std::vector<pending_op> ops,
                    unix_ms now) {
  auto err = s.transact(ops, now);
  if (!err && s.has_pending_commit())
    err = s.commit();
  return err;
}

void check_store_transactions(state_store& s, unix_ms now) {
  REQUIRE_FALSE(transact(s, {set_op("fill:tx:a", "1"), set_op("fill:tx:b", "1"),
                             set_op("fill:tx:c", "1")},
                         now));
  auto va = version_of(s, "fill:tx:a", now);
  auto vb = version_of(s, "fill:tx:b", now);
  REQUIRE(va != 0);
  SECTION("a failing condition anywhere applies nothing and names its key") {
    std::vector<pending_op> ops{set_op("fill:tx:a", "2", condition::matches(va)),
                                erase_op("fill:tx:c"),
                                set_op("fill:tx:b", "2",
                                       condition::matches(vb + 1000))};
    auto err = s.transact(ops, now);
    REQUIRE(err);
    CHECK(code_of(err) == state_errc::version_mismatch);
    CHECK(message_of(err).find("fill:tx:b") != std::string::npos);
    CHECK(version_of(s, "fill:tx:a", now) == va);
    CHECK(value_of(s, "fill:tx:a", now) == "1");
    CHECK(value_of(s, "fill:tx:c", now) == "1");
    CHECK(version_of(s, "fill:tx:b", now) == vb);
  }
  SECTION("if_absent on an existing key fails the whole transaction") {
    std::vector<pending_op> ops{set_op("fill:tx:new", "x"),
                                set_op("fill:tx:a", "y", condition::absent())};
    auto err = s.transact(ops, now);
    CHECK(code_of(err) == state_errc::version_mismatch);
    CHECK(value_of(s, "fill:tx:new", now) == "<absent>");
  }
  SECTION("sets, deletes and creates apply together with new versions") {
    std::vector<pending_op> ops{set_op("fill:tx:a", "2", condition::matches(va)),
                                erase_op("fill:tx:b", condition::matches(vb)),
                                set_op("fill:tx:d", "4", condition::absent())};
    REQUIRE_FALSE(s.transact(ops, now));
    if (s.has_pending_commit())
      REQUIRE_FALSE(s.commit());
    REQUIRE(ops[0].written);
    CHECK(ops[0].written->version != va);
    CHECK_FALSE(ops[0].written->created);
    CHECK(ops[0].written->version == version_of(s, "fill:tx:a", now));
    REQUIRE(ops[1].erased);
    CHECK(*ops[1].erased);
    REQUIRE(ops[2].written);
    CHECK(ops[2].written->created);
    CHECK(value_of(s, "fill:tx:a", now) == "2");
    CHECK(value_of(s, "fill:tx:b", now) == "<absent>");
    CHECK(value_of(s, "fill:tx:d", now) == "4");
  }
  SECTION("an expired key is absent for a transaction's conditions") {
    REQUIRE_FALSE(
      transact(s, {set_op("fill:tx:old", "x", condition::always(), now - 1)},
               now));
    REQUIRE_FALSE(
      transact(s, {set_op("fill:tx:old", "y", condition::absent())}, now));
    CHECK(value_of(s, "fill:tx:old", now) == "y");
  }
  SECTION("a set's expiry is kept") {
    REQUIRE_FALSE(transact(
      s, {set_op("fill:tx:ttl", "x", condition::always(), now + 60'000)},
      now));
    auto e = s.get("fill:tx:ttl", now);
    REQUIRE(e);
    CHECK(e->expires_at_ms == now + 60'000);
    CHECK_FALSE(s.get("fill:tx:ttl", now + 60'001));
  }
}

/// max_items counts the keys a transaction adds net: one that deletes as
/// many keys as it creates fits a full store whatever the order of its
/// ops, and one that creates more is refused, changing nothing and keeping
/// the count exact.
void check_transaction_capacity(const conformance_target& t) {
  auto limited = t;
  limited.config.max_items = 2;
  limited.config.eviction = eviction_policy::reject;
  auto store = open_one(limited);
  auto& s = *store;
  auto now = wall_now();
  REQUIRE_FALSE(transact(s, {set_op("fill:cap:a", "a"),
                             set_op("fill:cap:b", "b")},
                         now));
  // Full. The set first, then the delete, and the other way round.
  auto err = transact(s, {set_op("fill:cap:c", "c"), erase_op("fill:cap:a")},
                      now);
  INFO(message_of(err));
  CHECK_FALSE(err);
  err = transact(s, {erase_op("fill:cap:b"), set_op("fill:cap:d", "d")}, now);
  INFO(message_of(err));
  CHECK_FALSE(err);
  CHECK(value_of(s, "fill:cap:a", now) == "<absent>");
  CHECK(value_of(s, "fill:cap:b", now) == "<absent>");
  CHECK(value_of(s, "fill:cap:c", now) == "c");
  CHECK(value_of(s, "fill:cap:d", now) == "d");
  // Two keys created for one deleted: one too many.
  err = transact(s, {set_op("fill:cap:e", "e"), set_op("fill:cap:f", "f"),
                     erase_op("fill:cap:c")},
                 now);
  CHECK(code_of(err) == state_errc::capacity_exceeded);
  CHECK(value_of(s, "fill:cap:c", now) == "c");
  CHECK(value_of(s, "fill:cap:d", now) == "d");
  CHECK(value_of(s, "fill:cap:e", now) == "<absent>");
  CHECK(value_of(s, "fill:cap:f", now) == "<absent>");
  // Still full, no more and no less.
  CHECK(code_of(transact(s, {set_op("fill:cap:g", "g")}, now))
        == state_errc::capacity_exceeded);
  REQUIRE_FALSE(transact(s, {erase_op("fill:cap:d")}, now));
  CHECK_FALSE(transact(s, {set_op("fill:cap:g", "g")}, now));
  CHECK(code_of(transact(s, {set_op("fill:cap:h", "h")}, now))
        == state_errc::capacity_exceeded);
  store->close();
}

/// Accounts for the bank test: all in one placement group (one shard), or
/// spread over the shards.
std::vector<std::string> accounts(bool one_group, size_t shards) {
  std::vector<std::string> out;
  for (int i = 0; out.size() < 6 && i < 10'000; ++i) {
    auto key = one_group ? "fill:bank:acct" + std::to_string(i)
                         : "state:bank:acct" + std::to_string(i);
    out.push_back(key);
  }
  if (!one_group) {
    // Make sure they really span shards.
    std::map<size_t, int> used;
    for (auto& k : out)
      ++used[shard_index(k, shards)];
    REQUIRE(used.size() > 1);
  }
  return out;
}

/// The bank-transfer invariant: concurrent transfers between a few hot
/// accounts, each a two-key transaction conditioned on the versions read.
/// Committed transfers must add up: every account ends at its start plus
/// the committed deltas on it, so no committed transfer was lost or half
/// applied and none that failed left a trace.
void check_bank_invariant(caf::actor_system& sys, const state_actor& store,
                          const std::vector<std::string>& keys) {
  constexpr int start_balance = 1'000;
  constexpr int workers = 4;
  constexpr int transfers_each = 40;
  caf::scoped_actor self{sys};
  {
    transaction_request init;
    for (auto& k : keys)
      init.ops.push_back(txn_op::put(k, std::to_string(start_balance)));
    self->request(store, 10s, transact_atom_v, init)
      .receive([](const transaction_reply&) {},
               [](caf::error& err) { FAIL(message_of(err)); });
  }
  std::mutex deltas_guard;
  std::map<std::string, long> deltas;
  std::atomic<int> conflicts{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      std::mt19937 rng(1234 + w);
      caf::scoped_actor me{sys};
      for (int done = 0; done < transfers_each;) {
        auto from = keys[rng() % keys.size()];
        auto to = keys[rng() % keys.size()];
        if (from == to)
          continue;
        batch_reply got;
        me->request(store, 10s, batch_get_atom_v, batch_request{{from, to}})
          .receive([&](batch_reply& r) { got = std::move(r); },
                   [&](caf::error&) { ++unexpected; });
        if (got.entries.size() != 2)
          continue;
        int amount = 1 + static_cast<int>(rng() % 50);
        auto a = std::stol(got.entries[0].value);
        auto b = std::stol(got.entries[1].value);
        transaction_request t{
          {txn_op::put(from, std::to_string(a - amount),
                       condition::matches(got.entries[0].version)),
           txn_op::put(to, std::to_string(b + amount),
                       condition::matches(got.entries[1].version))}};
        me->request(store, 10s, transact_atom_v, std::move(t))
          .receive(
            [&](const transaction_reply& r) {
              REQUIRE(r.versions.size() == 2);
              std::lock_guard<std::mutex> lock{deltas_guard};
              deltas[from] -= amount;
              deltas[to] += amount;
              ++done;
            },
            [&](caf::error& err) {
              if (code_of(err) == state_errc::version_mismatch)
                ++conflicts;
              else
                ++unexpected;
            });
        if (unexpected > 0)
          return;
      }
    });
  for (auto& th : threads)
    th.join();
  REQUIRE(unexpected == 0);
  batch_reply final_state;
  self->request(store, 10s, batch_get_atom_v, batch_request{keys})
    .receive([&](batch_reply& r) { final_state = std::move(r); },
             [](caf::error& err) { FAIL(message_of(err)); });
  REQUIRE(final_state.entries.size() == keys.size());
  long sum = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    auto balance = std::stol(final_state.entries[i].value);
    INFO(keys[i]);
    CHECK(balance == start_balance + deltas[keys[i]]);
    sum += balance;
  }
  CHECK(sum == start_balance * static_cast<long>(keys.size()));
  // Conflicting transfers really raced (else the test proved little).
  WARN("bank: " << conflicts.load() << " conflicts");
}

/// A writer moves the keys of one group to the same new value in one
/// transaction, over and over; a reader's batch-get of them must see them
/// all equal. Thirty keys: more than a network backend reads in one round
/// trip, so a read in parts that another connection's transaction lands
/// between is caught. With `spanning`, each transaction's first key is of
/// another shard, whose store applies it (shared engines) or coordinates it
/// (memory): a writer other than the reading shard, as another service on
/// the same engine would be.
void check_no_partial_reads(caf::actor_system& sys, const state_actor& store,
                            size_t shards, bool spanning,
                            bool delete_first = false) {
  std::vector<std::string> group;
  for (int i = 0; i < 30; ++i)
    group.push_back("fill:snap:k" + std::to_string(10 + i));
  std::string elsewhere;
  for (int i = 0; spanning && elsewhere.empty(); ++i)
    if (auto k = "state:snap:" + std::to_string(i);
        shard_index(k, shards) != shard_index(group[0], shards))
      elsewhere = k;
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread writer{[&] {
    caf::scoped_actor me{sys};
    for (int g = 1; g <= 300; ++g) {
      transaction_request txn;
      if (!elsewhere.empty())
        txn.ops.push_back(txn_op::put(elsewhere, std::to_string(g)));
      for (auto& k : group)
        txn.ops.push_back(txn_op::put(k, std::to_string(g)));
      // Every other one deletes the first key: a reader that checks what
      // it read before against what it read after sees it absent both
      // times, though it was there in between.
      if (delete_first && g % 2 == 0)
        txn.ops[elsewhere.empty() ? 0 : 1] = txn_op::remove(group[0]);
      me->request(store, 10s, transact_atom_v, std::move(txn))
        .receive([](const transaction_reply&) {},
                 [](caf::error& err) { FAIL(message_of(err)); });
    }
    stop = true;
  }};
  std::thread reader{[&] {
    caf::scoped_actor me{sys};
    while (!stop) {
      me->request(store, 10s, batch_get_atom_v, batch_request{group})
        .receive(
          [&](batch_reply& r) {
            ++reads;
            // The last key holds the transaction's number; the first the
            // same, or nothing when that transaction deleted it.
            auto& last = r.entries.back().value;
            for (size_t i = 0; i < r.entries.size(); ++i) {
              auto& e = r.entries[i];
              bool deleted = delete_first && i == 0 && !e.found()
                             && !last.empty() && std::stoi(last) % 2 == 0;
              if (e.value != last && !deleted) {
                ++torn;
                break;
              }
            }
          },
          [](caf::error&) {});
    }
  }};
  writer.join();
  reader.join();
  CHECK(torn == 0);
  CHECK(reads > 0);
}

transaction_reply must_transact(caf::scoped_actor& self,
                                const state_actor& store,
                                transaction_request req) {
  transaction_reply out;
  self->request(store, 10s, transact_atom_v, std::move(req))
    .receive([&](transaction_reply& r) { out = std::move(r); },
             [](caf::error& err) { FAIL(message_of(err)); });
  return out;
}

caf::error transact_error(caf::scoped_actor& self, const state_actor& store,
                          transaction_request req) {
  caf::error out;
  self->request(store, 10s, transact_atom_v, std::move(req))
    .receive([](transaction_reply&) {}, [&](caf::error& err) { out = err; });
  return out;
}

void check_actor_transactions(const conformance_target& t) {
  // Spanning shards: stores that share their data, and memory. Asked
  // before the actors open the backend (the file backend locks base_path).
  bool spans = false;
  {
    auto probe = open_one(t);
    spans = probe->shares_data() || probe->backend_name() == "memory";
    probe->close();
  }
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  auto config = t.config;
  config.shards = 4;
  auto store = start_store(sys, config, compiled_plugins());
  INFO((store ? std::string{} : message_of(store.error())));
  REQUIRE(store);
  caf::scoped_actor self{sys};

  SECTION("bad requests are refused before anything is applied") {
    CHECK(code_of(transact_error(self, store->router, {}))
          == state_errc::bad_request);
    CHECK(code_of(transact_error(
            self, store->router,
            {{txn_op::put("fill:o:a", "1"), txn_op::put("fill:o:a", "2")}}))
          == state_errc::bad_request);
    CHECK(code_of(transact_error(self, store->router,
                                 {{txn_op::put("fill:o:a", "1"),
                                   txn_op::put(std::string{"bad\x01key"}, "2")}}))
          == state_errc::invalid_key);
    std::string big(config.max_value_bytes + 1, 'x');
    CHECK(code_of(transact_error(self, store->router,
                                 {{txn_op::put("fill:o:a", big)}}))
          == state_errc::payload_too_large);
    batch_reply r;
    self->request(store->router, 10s, batch_get_atom_v,
                  batch_request{{"fill:o:a"}})
      .receive([&](batch_reply& x) { r = std::move(x); },
               [](caf::error& err) { FAIL(message_of(err)); });
    REQUIRE(r.entries.size() == 1);
    CHECK_FALSE(r.entries[0].found());
  }
  SECTION("versions come back per operation, deletes as 0") {
    auto first = must_transact(self, store->router,
                               {{txn_op::put("fill:v:a", "1"),
                                 txn_op::put("fill:v:b", "1")}});
    REQUIRE(first.versions.size() == 2);
    auto second = must_transact(
      self, store->router,
      {{txn_op::remove("fill:v:a", condition::matches(first.versions[0])),
        txn_op::put("fill:v:b", "2", condition::matches(first.versions[1]))}});
    REQUIRE(second.versions.size() == 2);
    CHECK(second.versions[0] == 0);
    CHECK(second.versions[1] != 0);
    CHECK(second.versions[1] != first.versions[1]);
    entry e;
    self->request(store->router, 10s, get_atom_v, std::string{"fill:v:b"})
      .receive([&](entry& x) { e = std::move(x); },
               [](caf::error& err) { FAIL(message_of(err)); });
    CHECK(e.version == second.versions[1]);
  }
  SECTION("one placement group: the bank invariant holds") {
    check_bank_invariant(sys, store->router, accounts(true, config.shards));
  }
  SECTION("no reader sees half of a transaction") {
    check_no_partial_reads(sys, store->router, config.shards, false);
  }
  if (spans) {
    SECTION("no reader sees half of a transaction another shard applies") {
      check_no_partial_reads(sys, store->router, config.shards, true);
    }
    SECTION("no reader sees half of one that deletes a key it read absent") {
      check_no_partial_reads(sys, store->router, config.shards, true, true);
    }
  }
  SECTION("across shards") {
    auto keys = accounts(false, config.shards);
    if (spans) {
      check_bank_invariant(sys, store->router, keys);
      // A failing condition on one shard leaves the others untouched.
      auto err = transact_error(
        self, store->router,
        {{txn_op::put(keys[0], "changed"), txn_op::put(keys[1], "changed"),
          txn_op::put(keys[2], "x", condition::matches(987654321))}});
      CHECK(code_of(err) == state_errc::version_mismatch);
      batch_reply r;
      self->request(store->router, 10s, batch_get_atom_v,
                    batch_request{{keys[0], keys[1]}})
        .receive([&](batch_reply& x) { r = std::move(x); },
                 [](caf::error& e) { FAIL(message_of(e)); });
      REQUIRE(r.entries.size() == 2);
      CHECK(r.entries[0].value != "changed");
      CHECK(r.entries[1].value != "changed");
    } else {
      auto err = transact_error(self, store->router,
                                {{txn_op::put(keys[0], "1"),
                                  txn_op::put(keys[1], "1")}});
      CHECK(code_of(err) == state_errc::bad_request);
      CHECK(message_of(err).find("placement group") != std::string::npos);
    }
  }
  stop_store(*store);
}

} // namespace

/// A backend that cannot apply a transaction atomically refuses it, in the
/// store and through the actors, and writes nothing.
void check_transactions_refused(const conformance_target& t) {
  auto store = open_one(t);
  auto now = wall_now();
  std::vector<pending_op> ops{set_op("fill:no:a", "1"),
                              set_op("fill:no:b", "1")};
  auto err = store->transact(ops, now);
  CHECK(code_of(err) == state_errc::bad_request);
  CHECK(message_of(err).find("transaction") != std::string::npos);
  CHECK_FALSE(store->get("fill:no:a", now));
  store->close();
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  auto actors = start_store(sys, t.config, compiled_plugins());
  REQUIRE(actors);
  caf::scoped_actor self{sys};
  CHECK(code_of(transact_error(self, actors->router,
                               {{txn_op::put("fill:no:a", "1"),
                                 txn_op::put("fill:no:b", "1")}}))
        == state_errc::bad_request);
  stop_store(*actors);
}

void run_transaction_conformance(const conformance_target& t) {
  t.reset();
  if (!t.runs_transactions) {
    SECTION("transactions are refused, nothing written") {
      check_transactions_refused(t);
    }
    return;
  }
  SECTION("transactions, store level") {
    auto store = open_one(t);
    check_store_transactions(*store, wall_now());
    store->close();
  }
  SECTION("transactions, actor level") {
    check_actor_transactions(t);
  }
  if (t.enforces_max_items) {
    SECTION("a transaction needs room for the keys it adds net") {
      check_transaction_capacity(t);
    }
  }
}

} // namespace solver_state::testing
