#pragma once

// Items written straight into a dynalite table (BatchWriteItem, no store
// and no proxy in between): a test's table filled fast, as another writer
// of the same table would leave it.

#include <algorithm>
#include <string>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "backends/dynamodb/api.hpp"
#include "backends/dynamodb/codec.hpp"
#include "backends/dynamodb/endpoint.hpp"
#include "tests/support/dynalite_server.hpp"

namespace solver_state::testing {

/// `count` items `prefix`N (N from 10000, value "x", version 1) into
/// `table`, each expiring at `expires_at` (0: never).
inline void put_items(const dynalite_server& server, const std::string& table,
                      const std::string& prefix, int count,
                      unix_ms expires_at = 0) {
  namespace json = boost::json;
  auto ep = dynamodb::parse_endpoint(server.url(table));
  REQUIRE(ep);
  dynamodb::api_client api{*ep, aws::credentials::from_environment()};
  for (int first = 0; first < count; first += 25) {
    json::array requests;
    for (int i = first; i < std::min(count, first + 25); ++i) {
      dynamodb::stored_item item;
      item.key = prefix + std::to_string(10'000 + i);
      item.value = "x";
      item.version = 1;
      item.expires_at = expires_at;
      requests.emplace_back(json::object{
        {"PutRequest",
         json::object{{"Item", dynamodb::encode_item(item)}}}});
    }
    auto reply = api.call(
      "BatchWriteItem",
      json::object{{"RequestItems", json::object{{table, requests}}}});
    REQUIRE(reply);
    REQUIRE(reply->at("UnprocessedItems").as_object().empty());
  }
}

} // namespace solver_state::testing
