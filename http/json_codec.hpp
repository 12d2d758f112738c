#pragma once

// The JSON bodies of HTTP API v1, read and written with Boost.JSON.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/domain.hpp"
#include "messages/errors.hpp"
#include "messages/health.hpp"
#include "messages/values.hpp"

namespace solver_state::gateway {

/// {"error":{"code":"<code>","message":"<text>"}}
std::string error_body(state_errc code, std::string_view message);

/// {"status":"<status>"}
std::string status_body(std::string_view status);

/// /readyz's 200 body: {"status":"ready","quarantined_values":N,...}, with
/// "scope":"local" when only the node's own share was asked.
std::string readiness_body(const health_report& report, bool own_share);

/// The keys of a batch-get body {"keys":["a","b"]}, or nullopt with
/// `problem` set when the body is not that shape or names more than
/// `max_keys` (the store's bound, told in its words before anything is
/// copied: a body of half a million keys costs no more than its parse).
std::optional<std::vector<std::string>>
parse_batch_keys(std::string_view body, std::string& problem,
                 size_t max_keys);

/// {"items":[{"key":k,"value":"<base64>"|null,"etag":"\"v\""|null}, ...],
///  "unprocessed_keys":[...]}: one item per entry, for the first keys.
std::string batch_items_body(const std::vector<std::string>& keys,
                             const batch_reply& reply);

/// {"keys":[...],"next_cursor":"<cursor>"|null}
std::string key_page_body(const key_page& page,
                          const std::optional<std::string>& next_cursor);

/// {"deleted":N}
std::string deleted_body(uint64_t deleted);

/// {"<field>":[...ids...],"next_cursor":"<cursor>"|null}
std::string id_list_body(std::string_view field, const id_list& ids,
                         const std::optional<std::string>& next_cursor);

} // namespace solver_state::gateway
