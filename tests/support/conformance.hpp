#pragma once

// One conformance suite for every backend (memory, file, redis, postgresql,
// dynamodb): written once, run against each by a *_conformance_test.cpp that
// describes how to open the backend. Uses Catch2 SECTIONs, so call it from
// inside a TEST_CASE.

#include <functional>
#include <memory>
#include <string>

#include "backends/state_store.hpp"
#include "config/config.hpp"

namespace solver_state::testing {

struct conformance_target {
  /// Config that opens the backend (state.type, file.base_path, ...).
  state_config config;
  /// Empties the backend; called before every section.
  std::function<void()> reset;
  /// True when two stores opened from `config` see each other's writes
  /// (network backends). Enables the cross-instance race test.
  bool instances_share_data = false;
  /// False for a backend that refuses transactions (it cannot apply one
  /// atomically yet): the suite then checks the refusal instead.
  bool runs_transactions = true;
  /// False for a backend that refuses state.max_items (it cannot enforce a
  /// key limit): the capacity checks are then left out.
  bool enforces_max_items = true;
};

/// Wall-clock milliseconds now, as the shards stamp writes.
unix_ms wall_now();

/// One store of the target's backend (shards: 1), opened directly, with
/// the value codec of its config (compression, encryption) as the service
/// has it.
std::unique_ptr<state_store> open_one(const conformance_target& target);

/// Runs every check of the protocol against the target's backend: directly
/// on its stores, and through the real actors (start_store).
void run_conformance(const conformance_target& target);

} // namespace solver_state::testing
