#pragma once

// Shared by the pipelining tests of the network backends: building the ops
// of a batch, opening one store, and the mixed-batch check that every
// pipelining backend must pass (ops on one key in one batch run in order).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "backends/state_store.hpp"

namespace solver_state::testing {

inline unix_ms wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

inline pending_op get_op(std::string key) {
  pending_op op;
  op.kind = pending_op::get;
  op.key = std::move(key);
  return op;
}

inline pending_op set_op(std::string key, std::string value,
                         condition cond = condition::always(),
                         unix_ms expires_at = 0) {
  pending_op op;
  op.kind = pending_op::set;
  op.write = set_request{std::move(key), std::move(value), 0, cond};
  op.expires_at = expires_at;
  return op;
}

inline pending_op erase_op(std::string key,
                           condition cond = condition::always()) {
  pending_op op;
  op.kind = pending_op::erase;
  op.removal = delete_request{std::move(key), cond};
  return op;
}

/// The code of an op's outcome: none on success.
inline state_errc code(const pending_op& op) {
  auto err = op.failure();
  return err ? code_of(err) : state_errc::none;
}

/// The stores of `type` (one per shard), as the plugin makes them.
inline store_list open_stores(const std::string& type, size_t shards = 1,
                              size_t max_items = 0) {
  state_config cfg;
  cfg.type = type;
  cfg.shards = shards;
  cfg.max_items = max_items;
  auto plugin = compiled_plugins().find(type);
  REQUIRE(plugin != nullptr);
  auto stores = plugin->create_stores(cfg);
  INFO((stores ? std::string{} : message_of(stores.error())));
  REQUIRE(stores);
  return std::move(*stores);
}

/// One batch holding every kind of op on one key, where each op's outcome
/// depends on the ones before it, plus another key in between.
inline void check_mixed_batch(state_store& s) {
  REQUIRE(s.pipelines());
  auto now = wall_ms();
  const std::string k = "state:pipe:k";
  const std::string other = "state:pipe:other";
  auto seeded = s.set(set_request{k, "seed", 0, condition::always()}, 0, now);
  REQUIRE(seeded);
  auto v0 = seeded->version;
  std::vector<pending_op> ops;
  ops.push_back(get_op(k));                                   // 0 seed
  ops.push_back(set_op(k, "a", condition::matches(v0)));      // 1 ok
  ops.push_back(set_op(k, "x", condition::matches(v0)));      // 2 stale now
  ops.push_back(get_op(k));                                   // 3 a
  ops.push_back(set_op(other, "o"));                          // 4 ok
  ops.push_back(set_op(k, "x", condition::absent()));         // 5 exists
  ops.push_back(erase_op(k, condition::matches(v0)));         // 6 stale
  ops.push_back(erase_op(k));                                 // 7 true
  ops.push_back(get_op(k));                                   // 8 not found
  ops.push_back(erase_op(k));                                 // 9 false
  ops.push_back(set_op(k, "b", condition::absent()));         // 10 ok
  ops.push_back(get_op(k));                                   // 11 b
  ops.push_back(get_op(other));                               // 12 o
  s.apply(ops, now);
  for (size_t i = 0; i < ops.size(); ++i) {
    INFO("op " << i << ": " << to_string(code(ops[i])));
    auto expected_failure = i == 2 || i == 5 || i == 6
                              ? state_errc::version_mismatch
                              : i == 8 ? state_errc::not_found
                                       : state_errc::none;
    CHECK(code(ops[i]) == expected_failure);
  }
  REQUIRE(ops[0].got);
  CHECK(ops[0].got->value == "seed");
  CHECK(ops[0].got->version == v0);
  REQUIRE(ops[1].written);
  CHECK_FALSE(ops[1].written->created); // replaced the seed
  REQUIRE(ops[3].got);
  CHECK(ops[3].got->value == "a");
  CHECK(ops[3].got->version == ops[1].written->version);
  REQUIRE(ops[4].written);
  CHECK(ops[4].written->created);
  REQUIRE(ops[7].erased);
  CHECK(*ops[7].erased);
  REQUIRE(ops[9].erased);
  CHECK_FALSE(*ops[9].erased);
  REQUIRE(ops[10].written);
  CHECK(ops[10].written->created); // the key was deleted by op 7
  REQUIRE(ops[11].got);
  CHECK(ops[11].got->value == "b");
  CHECK(ops[11].got->version == ops[10].written->version);
  CHECK(ops[10].written->version != ops[1].written->version);
  REQUIRE(ops[12].got);
  CHECK(ops[12].got->value == "o");
  auto after = s.get(k, now);
  REQUIRE(after);
  CHECK(after->value == "b");
}

/// Large values split one batch into several round trips: the order on a
/// key must hold across them too.
inline void check_large_batch(state_store& s) {
  auto now = wall_ms();
  const std::string k = "state:pipe:big";
  std::vector<pending_op> ops;
  for (int i = 0; i < 8; ++i) {
    ops.push_back(set_op(k, std::string(300 * 1024, static_cast<char>('a' + i))));
    ops.push_back(get_op(k));
  }
  s.apply(ops, now);
  for (int i = 0; i < 8; ++i) {
    auto& written = ops[2 * i].written;
    auto& got = ops[2 * i + 1].got;
    INFO("round " << i);
    REQUIRE(written);
    REQUIRE(got);
    CHECK(got->version == written->version);
    CHECK(got->value == std::string(300 * 1024, static_cast<char>('a' + i)));
  }
}

} // namespace solver_state::testing
