// The acceptance rules of a transaction_request.

#include "actors/transaction_rules.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "messages/errors.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

std::string op_name(size_t i) {
  return "operation " + std::to_string(i);
}

caf::error op_problem(size_t i, const txn_op& op,
                      const transaction_limits& limits) {
  if (op.kind != txn_op::set && op.kind != txn_op::erase)
    return make_state_error(state_errc::bad_request,
                            op_name(i) + ": op must be set or delete");
  if (auto problem = key_problem(op.key); !problem.empty())
    return make_state_error(state_errc::invalid_key,
                            op_name(i) + ": " + problem);
  if (!op.cond.known())
    return make_state_error(state_errc::bad_request,
                            op_name(i) + ": unknown condition");
  if (op.kind == txn_op::erase)
    return {};
  if (op.ttl_ms < default_ttl)
    return make_state_error(state_errc::bad_request,
                            op_name(i) + ": ttl must not be negative");
  if (op.value.size() > limits.max_value_bytes)
    return make_state_error(state_errc::payload_too_large,
                            op_name(i) + ": value of "
                              + std::to_string(op.value.size())
                              + " bytes; state.max_value_bytes is "
                              + std::to_string(limits.max_value_bytes));
  return {};
}

} // namespace

caf::error transaction_problem(const transaction_request& req,
                               const transaction_limits& limits) {
  if (req.ops.empty())
    return make_state_error(state_errc::bad_request,
                            "a transaction needs at least one operation");
  if (req.ops.size() > limits.max_ops)
    return make_state_error(state_errc::bad_request,
                            "a transaction of "
                              + std::to_string(req.ops.size())
                              + " operations; http.max_batch_keys is "
                              + std::to_string(limits.max_ops));
  size_t total = 0;
  for (size_t i = 0; i < req.ops.size(); ++i) {
    if (auto err = op_problem(i, req.ops[i], limits))
      return err;
    total += req.ops[i].value.size();
  }
  if (total > limits.max_total_bytes)
    return make_state_error(state_errc::payload_too_large,
                            "a transaction of " + std::to_string(total)
                              + " value bytes; http.max_reply_bytes is "
                              + std::to_string(limits.max_total_bytes));
  std::vector<std::string_view> keys;
  keys.reserve(req.ops.size());
  for (auto& op : req.ops)
    keys.push_back(op.key);
  std::sort(keys.begin(), keys.end());
  if (auto twice = std::adjacent_find(keys.begin(), keys.end());
      twice != keys.end())
    return make_state_error(state_errc::bad_request,
                            "key '" + std::string{*twice}
                              + "' is named twice in one transaction");
  return {};
}

} // namespace solver_state
