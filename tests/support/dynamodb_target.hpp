#pragma once

// The conformance suite's target for a DynamoDB table (plain or HTTPS):
// 4 shards sharing the table, no key limit (the backend refuses one), and a
// reset that drops the table.

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "backends/dynamodb/api.hpp"
#include "backends/dynamodb/table.hpp"
#include "messages/errors.hpp"
#include "tests/support/conformance.hpp"

namespace solver_state::testing {

inline conformance_target dynamodb_target(const std::string& type) {
  conformance_target target;
  target.config.type = type;
  target.config.max_items = 0;
  target.config.shards = 4;
  target.instances_share_data = true;
  target.runs_transactions = false; // dynalite has no TransactWriteItems
  target.enforces_max_items = false; // the backend refuses a key limit
  target.reset = [type] {
    auto ep = dynamodb::parse_endpoint(type);
    REQUIRE(ep);
    dynamodb::api_client api{*ep, aws::credentials::from_environment()};
    auto err = dynamodb::drop_table(api, std::chrono::seconds{10});
    INFO(message_of(err));
    REQUIRE_FALSE(err);
  };
  return target;
}

} // namespace solver_state::testing
