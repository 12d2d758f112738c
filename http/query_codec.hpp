#pragma once

// The JSON of POST /v1/query: the request body into a query_request, a
// query page into {"items":[...],"next_cursor":...}. Cursors travel as
// base64url, so they are opaque and safe in any client's hands.

#include <optional>
#include <string>
#include <string_view>

#include "messages/query.hpp"

namespace solver_state::gateway {

/// The page size when the body names none.
constexpr uint32_t default_query_limit = 100;

/// {"prefix":P,"where":[{"index":I,"op":O,"value":V}],"order_by":{"index":
/// I,"direction":"asc"|"desc"},"limit":N,"cursor":C,"values":bool}, or
/// nullopt with `problem` naming the field at fault. Unknown fields are
/// refused (a misspelt condition must not widen the answer).
std::optional<query_request> parse_query(std::string_view body,
                                         std::string& problem);

/// {"items":[{"key":k,"etag":"\"v\"","value":"<base64>"?}],"next_cursor":
/// C or null}.
std::string query_page_body(const query_page& page, bool with_values);

} // namespace solver_state::gateway
