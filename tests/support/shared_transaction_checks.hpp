#pragma once

// Transaction checks for backends whose stores share one database (Redis,
// PostgreSQL, DynamoDB): what another connection sees while a transaction
// runs, and what is left when the transaction's connection is killed. Each
// check is built to fail against the default state_store::transact, which
// checks by reading and then writes key by key.

#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/pipeline_support.hpp"

namespace solver_state::testing {

inline long number_in(const caf::expected<entry>& e) {
  return e ? std::stol(e->value) : -1;
}

/// Transfers between two accounts, as transactions on `bank` conditioned on
/// the versions it read, race conditional single-key deposits into one of
/// them through `teller` (another connection). No write may be lost: the
/// sum is the start plus the deposits that succeeded.
inline void check_transfers_race_deposits(state_store& bank,
                                          state_store& teller) {
  auto now = wall_ms();
  REQUIRE(bank.set(set_request{"acct:x", "1000", 0, condition::always()}, 0,
                   now));
  REQUIRE(bank.set(set_request{"acct:y", "1000", 0, condition::always()}, 0,
                   now));
  std::atomic<bool> stop{false};
  long deposits = 0;
  std::thread depositor([&] {
    while (!stop) {
      auto cur = teller.get("acct:x", wall_ms());
      if (!cur)
        continue;
      auto more = std::to_string(std::stol(cur->value) + 1);
      if (teller.set(set_request{"acct:x", more, 0,
                                 condition::matches(cur->version)},
                     0, wall_ms()))
        ++deposits;
    }
  });
  int transfers = 0;
  for (int i = 0; i < 400; ++i) {
    auto x = bank.get("acct:x", wall_ms());
    auto y = bank.get("acct:y", wall_ms());
    REQUIRE(x);
    REQUIRE(y);
    std::vector<pending_op> ops;
    ops.push_back(set_op("acct:x", std::to_string(std::stol(x->value) - 1),
                         condition::matches(x->version)));
    ops.push_back(set_op("acct:y", std::to_string(std::stol(y->value) + 1),
                         condition::matches(y->version)));
    auto err = bank.transact(ops, wall_ms());
    if (!err)
      ++transfers;
    else
      REQUIRE(code_of(err) == state_errc::version_mismatch);
  }
  stop = true;
  depositor.join();
  now = wall_ms();
  INFO("transfers " << transfers << ", deposits " << deposits);
  CHECK(transfers > 0);
  CHECK(deposits > 0);
  CHECK(number_in(bank.get("acct:x", now)) + number_in(bank.get("acct:y", now))
        == 2000 + deposits);
}

/// A writer sets several keys to the same generation in each transaction;
/// a reader on another connection reads them all in one batch_get (one
/// server round trip, one snapshot) and must never see two generations.
inline void check_no_torn_reads(state_store& writer, state_store& reader) {
  std::vector<std::string> keys{"gen:a", "gen:b", "gen:c", "gen:d"};
  std::atomic<bool> stop{false};
  long reads = 0;
  long torn = 0;
  std::string example;
  std::thread watcher([&] {
    while (!stop) {
      auto got = reader.batch_get(keys, wall_ms());
      if (!got)
        continue;
      ++reads;
      for (auto& e : *got)
        if (e.value != got->front().value) {
          ++torn;
          example = got->front().value + " next to " + e.value;
        }
    }
  });
  for (int gen = 1; gen <= 400; ++gen) {
    std::vector<pending_op> ops;
    for (auto& k : keys)
      ops.push_back(set_op(k, std::to_string(gen)));
    REQUIRE_FALSE(writer.transact(ops, wall_ms()));
  }
  stop = true;
  watcher.join();
  INFO("reads " << reads << ", torn " << torn << " (" << example << ")");
  CHECK(reads > 0);
  CHECK(torn == 0);
}

/// `full` allows two live keys and holds one: a transaction that rewrites
/// that key and creates two more is refused with capacity_exceeded and
/// changes nothing, not even the version of the key it would rewrite.
inline void check_capacity_applies_nothing(state_store& full) {
  auto now = wall_ms();
  auto old = full.set(set_request{"cap:old", "old", 0, condition::always()},
                      0, now);
  REQUIRE(old);
  std::vector<pending_op> ops;
  ops.push_back(set_op("cap:old", "changed"));
  ops.push_back(set_op("cap:new1", "1"));
  ops.push_back(set_op("cap:new2", "2"));
  auto err = full.transact(ops, now);
  REQUIRE(err);
  CHECK(code_of(err) == state_errc::capacity_exceeded);
  auto kept = full.get("cap:old", now);
  REQUIRE(kept);
  CHECK(kept->value == "old");
  CHECK(kept->version == old->version);
  CHECK_FALSE(full.get("cap:new1", now));
  CHECK_FALSE(full.get("cap:new2", now));
}

/// Transactions that set many keys (large values, so each takes a while)
/// run back to back on a store whose connection `kill_clients` kills from
/// outside several times; after each kill a fresh store must find every key
/// at one generation: all or none of each transaction.
inline void check_killed_connection_all_or_none(
  const std::function<store_list()>& open,
  const std::function<void()>& kill_clients) {
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i)
    keys.push_back("kill:" + std::to_string(i));
  std::string padding(4096, 'p');
  int committed = 0;
  int failed = 0;
  for (int round = 0; round < 8; ++round) {
    auto stores = open();
    auto& writer = *stores[0];
    std::atomic<bool> killed{false};
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + round * 3));
      kill_clients();
      killed = true;
    });
    for (int gen = 0; !killed; ++gen) {
      std::vector<pending_op> ops;
      for (auto& k : keys)
        ops.push_back(set_op(k, std::to_string(round) + "." +
                                  std::to_string(gen) + ":" + padding));
      if (writer.transact(ops, wall_ms()))
        ++failed;
      else
        ++committed;
    }
    killer.join();
    auto readers = open();
    auto got = readers[0]->batch_get(keys, wall_ms());
    REQUIRE(got);
    for (auto& e : *got)
      CHECK(e.value == got->front().value);
  }
  INFO("committed " << committed << ", failed " << failed);
  CHECK(committed > 0);
}

} // namespace solver_state::testing
