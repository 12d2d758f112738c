// The DynamoDB table's lifecycle: DescribeTable/CreateTable until it serves
// (ACTIVE or UPDATING) with the expected key schema at start-up,
// DeleteTable for tests.

#include "backends/dynamodb/table.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <thread>

#include <boost/json/array.hpp>

#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace json = boost::json;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::chrono::milliseconds poll_every{50};

/// The table's status ("ACTIVE", "CREATING", ...), "" when it does not
/// exist, or the error of the call.
caf::expected<std::string> status_of(api_client& api,
                                     json::object* description = nullptr) {
  json::object body{{"TableName", api.where().table}};
  auto reply = api.call("DescribeTable", body);
  if (!reply) {
    if (api.last_error_type() == "ResourceNotFoundException")
      return std::string{};
    return std::move(reply.error());
  }
  auto table = reply->if_contains("Table");
  if (!table || !table->is_object())
    return make_state_error(state_errc::serialization_error,
                            "DescribeTable reply without Table");
  if (description)
    *description = table->as_object();
  auto status = table->as_object().if_contains("TableStatus");
  return status && status->is_string() ? std::string{status->as_string()}
                                       : std::string{"UNKNOWN"};
}

std::string string_at(const json::value& v, std::string_view field) {
  auto f = v.is_object() ? v.as_object().if_contains(field) : nullptr;
  return f && f->is_string() ? std::string{f->as_string()} : std::string{};
}

/// The table's key as "pk: S hash, k: B range" (our own), in KeySchema's
/// order, each attribute with its type from AttributeDefinitions ("?"
/// when the description leaves it out). The names alone are not enough: a
/// table keyed pk: S, k: S refuses every item of ours with "Type mismatch".
std::string key_schema_of(const json::object& table) {
  auto schema = table.if_contains("KeySchema");
  auto attributes = table.if_contains("AttributeDefinitions");
  auto type_of = [&](const std::string& name) {
    if (attributes && attributes->is_array())
      for (auto& a : attributes->as_array())
        if (string_at(a, "AttributeName") == name)
          return string_at(a, "AttributeType");
    return std::string{"?"};
  };
  std::string out;
  if (schema && schema->is_array())
    for (auto& key : schema->as_array()) {
      auto name = string_at(key, "AttributeName");
      auto kind = string_at(key, "KeyType");
      std::transform(kind.begin(), kind.end(), kind.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      out += (out.empty() ? "" : ", ") + name + ": " + type_of(name) + " "
             + kind;
    }
  return out.empty() ? "no key schema" : out;
}

constexpr std::string_view our_key_schema = "pk: S hash, k: B range";

caf::error create(api_client& api) {
  json::object body{
    {"TableName", api.where().table},
    {"AttributeDefinitions",
     json::array{json::object{{"AttributeName", "pk"}, {"AttributeType", "S"}},
                 json::object{{"AttributeName", "k"}, {"AttributeType", "B"}}}},
    {"KeySchema",
     json::array{json::object{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
                 json::object{{"AttributeName", "k"}, {"KeyType", "RANGE"}}}},
    {"BillingMode", "PAY_PER_REQUEST"}};
  auto reply = api.call("CreateTable", body);
  // Another process creating it at the same time is fine: wait for it.
  if (!reply && api.last_error_type() != "ResourceInUseException")
    return std::move(reply.error());
  return {};
}

} // namespace

bool table_serves(std::string_view status) {
  return status == "ACTIVE" || status == "UPDATING";
}

caf::error ensure_table(api_client& api, std::chrono::milliseconds patience) {
  auto deadline = clock_type::now() + patience;
  bool created = false;
  for (;;) {
    json::object description;
    auto status = status_of(api, &description);
    if (!status)
      return std::move(status.error());
    if (table_serves(*status)) {
      auto schema = key_schema_of(description);
      if (schema != our_key_schema)
        return make_state_error(state_errc::backend_error,
                                "DynamoDB table " + api.where().table
                                  + " exists with another key schema ("
                                  + schema + "; want "
                                  + std::string{our_key_schema}
                                  + "): name another table in "
                                    "state.type");
      return {};
    }
    if (status->empty() && !created) {
      if (auto err = create(api))
        return err;
      created = true;
      continue;
    }
    if (clock_type::now() >= deadline)
      return make_state_error(state_errc::backend_unavailable,
                              "DynamoDB table " + api.where().table
                                + " not serving in time (status "
                                + (status->empty() ? "absent" : *status)
                                + ")");
    std::this_thread::sleep_for(poll_every);
  }
}

caf::error drop_table(api_client& api, std::chrono::milliseconds patience) {
  auto deadline = clock_type::now() + patience;
  json::object body{{"TableName", api.where().table}};
  auto reply = api.call("DeleteTable", body);
  if (!reply && api.last_error_type() != "ResourceNotFoundException"
      && api.last_error_type() != "ResourceInUseException")
    return std::move(reply.error());
  for (;;) {
    auto status = status_of(api);
    if (!status)
      return std::move(status.error());
    if (status->empty())
      return {};
    if (clock_type::now() >= deadline)
      return make_state_error(state_errc::backend_unavailable,
                              "DynamoDB table " + api.where().table
                                + " still there (" + *status + ")");
    if (*status == "ACTIVE") // was still being created: delete it now
      api.call("DeleteTable", body);
    std::this_thread::sleep_for(poll_every);
  }
}

} // namespace solver_state::dynamodb
