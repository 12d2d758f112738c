#pragma once

// Versions as HTTP entity tags, and the conditional headers built on them.
// A version is opaque to clients: always the quoted form "<digits>".

#include <optional>
#include <string>
#include <string_view>

#include "messages/values.hpp"

namespace solver_state::gateway {

/// "\"42\"" for version 42.
std::string format_etag(version_t version);

/// The version of a strong entity tag "\"42\""; nullopt when malformed (weak
/// tags, lists, unquoted text).
std::optional<version_t> parse_etag(std::string_view text);

/// A write precondition from If-Match / If-None-Match, or why the headers
/// are unusable. nullptr arguments mean "header absent".
struct precondition {
  condition cond;
  std::string problem; // non-empty: answer 400 bad_request
};

/// For PUT: If-Match: "<v>" or If-None-Match: * (not both).
precondition write_precondition(const std::string_view* if_match,
                                const std::string_view* if_none_match);

/// For DELETE: If-Match: "<v>" only.
precondition delete_precondition(const std::string_view* if_match,
                                 const std::string_view* if_none_match);

} // namespace solver_state::gateway
