#pragma once

// The JSON of POST /v1/state/transaction: the request body into a
// transaction_request, the committed versions into {"etags":{...}}.

#include <optional>
#include <string>
#include <string_view>

#include "messages/transaction.hpp"

namespace solver_state::gateway {

/// Longest TTL a transaction's set may ask for, as PUT's ttl_seconds.
constexpr uint64_t max_txn_ttl_seconds = 10ULL * 365 * 24 * 3600;

/// {"operations":[{"op":"set","key":k,"value":"<base64>","ttl_seconds":n,
/// "if_match":"\"7\"" or "7"} | {"op":"set",...,"if_none_match":"*"} |
/// {"op":"delete","key":k,"if_match":...}]}, or nullopt with `problem`
/// naming the operation and field at fault. Unknown fields are refused (a
/// misspelt "if_match" must not turn a conditional write into a blind one).
/// More than `max_ops` operations are refused (in the store's words) before
/// any is read.
std::optional<transaction_request>
parse_transaction(std::string_view body, std::string& problem,
                  size_t max_ops);

/// {"etags":{"key":"\"version\"",...}} for the sets of `req`, in request
/// order; deletes have no entity tag and are left out.
std::string transaction_reply_body(const transaction_request& req,
                                   const transaction_reply& reply);

} // namespace solver_state::gateway
