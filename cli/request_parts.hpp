#pragma once

// Arguments turned into the pieces of a request: checked keys, encoded
// targets, conditional headers.

#include <optional>
#include <string>
#include <string_view>

#include "cli/failure.hpp"

namespace solver_state::cli {

/// A usage failure when `key` breaks the key rules (1..1024 bytes, no
/// control bytes): the service would refuse it, so it is not sent.
maybe_failure check_key(std::string_view key);

/// "/v1/state/<key, percent-encoded>".
std::string state_target(std::string_view key);

/// "/v1/state?prefix=<encoded>&limit=N[&cursor=<encoded>]".
std::string list_target(std::string_view prefix, long long limit,
                        const std::optional<std::string>& cursor);

/// "/v1/state?prefix=<encoded>": the target of a delete by prefix.
std::string prefix_target(std::string_view prefix);

/// The If-Match header for what --if-match was given: a quoted tag, a weak
/// one and "*" as they are; a bare version ("123", as scripts keep it) gets
/// its quotes. A usage failure for text that can be neither (a quote inside
/// a bare version, a comma).
expected<std::string> if_match_header(std::string_view argument);

} // namespace solver_state::cli
