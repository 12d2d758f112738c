#pragma once

// The key naming convention and its rules, in one place:
//   order:{order_type}:{order_id}        fill:{order_id}:{tx_hash}
//   settlement:{order_id}:{claim_hash}   state:{component}:{key}
// A key is 1..1024 bytes without control bytes (0x00-0x1F, 0x7F).

#include <cstddef>
#include <string>
#include <string_view>

#include "messages/domain.hpp"

namespace solver_state {

constexpr size_t max_key_bytes = 1024;

/// Empty when `key` is valid, else why it is not.
std::string key_problem(std::string_view key);

inline bool is_valid_key(std::string_view key) {
  return key_problem(key).empty();
}

/// Empty when `segment` can be one segment of a typed key (non-empty, no ':',
/// no control bytes), else why it cannot.
std::string segment_problem(std::string_view what, std::string_view segment);

// -- typed keys ----------------------------------------------------------------

std::string order_key(std::string_view order_type, std::string_view order_id);
std::string orders_prefix(std::string_view order_type);
std::string fill_key(std::string_view order_id, std::string_view tx_hash);
std::string fills_prefix(std::string_view order_id);
std::string settlement_key(std::string_view order_id,
                           std::string_view claim_hash);
std::string settlements_prefix(std::string_view order_id);
std::string state_key(std::string_view component, std::string_view key);

/// Empty when every segment of the typed record is valid, else the problem.
std::string problem_of(const order_ref& x);
std::string problem_of(const fill_ref& x);
std::string problem_of(const settlement_ref& x);
std::string problem_of(const component_key& x);

} // namespace solver_state
