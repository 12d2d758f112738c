// Index values' order, the names of the query operators, and the typed
// helper for the solver's first question.

#include "messages/query.hpp"

#include <array>

#include "messages/keys.hpp"

namespace solver_state {

bool operator==(const index_value& a, const index_value& b) {
  if (a.is_number != b.is_number)
    return false;
  return a.is_number ? a.number == b.number : a.text == b.text;
}

bool operator<(const index_value& a, const index_value& b) {
  if (a.is_number != b.is_number)
    return a.is_number; // numbers first
  return a.is_number ? a.number < b.number : a.text < b.text;
}

namespace {

constexpr std::array<const char*, 9> op_names = {
  "eq", "ne", "in", "nin", "lt", "lte", "gt", "gte", "exists"};

} // namespace

const char* to_string(query_op op) {
  auto i = static_cast<size_t>(op);
  return i < op_names.size() ? op_names[i] : "unknown";
}

bool from_string(const std::string& name, query_op& op) {
  for (size_t i = 0; i < op_names.size(); ++i)
    if (name == op_names[i]) {
      op = static_cast<query_op>(i);
      return true;
    }
  return false;
}

query_request orders_with_status(const std::string& order_type,
                                 const std::string& status_index,
                                 const std::string& status,
                                 const std::string& by_index,
                                 uint32_t limit) {
  query_request req;
  req.prefix = orders_prefix(order_type);
  req.where.push_back(
    {status_index, static_cast<uint8_t>(query_op::eq),
     {index_value::of(status)}});
  req.order_by = by_index;
  req.limit = limit;
  req.with_values = true;
  return req;
}

} // namespace solver_state
