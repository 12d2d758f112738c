#pragma once

// Versions as HTTP entity tags, and the conditional headers built on them.
// A version is opaque to clients: always the quoted form "<digits>".

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/values.hpp"

namespace solver_state::gateway {

/// "\"42\"" for version 42.
std::string format_etag(version_t version);

/// The version of a strong entity tag "\"42\""; nullopt when malformed (weak
/// tags, lists, unquoted text).
std::optional<version_t> parse_etag(std::string_view text);

/// One entity tag of an If-Match / If-None-Match list. `version` is empty
/// for a well-formed tag this service never issues ("abc"): it matches
/// nothing, as RFC 9110 wants of a tag that is not the current one, instead
/// of making the whole request a 400.
struct entity_tag {
  std::optional<version_t> version;
  bool weak = false;
};

/// An If-Match / If-None-Match value (RFC 9110 13.1.1, 13.1.2): "*" or a
/// comma-separated list of entity tags.
struct tag_condition {
  bool any = false; // "*"
  std::vector<entity_tag> tags;

  /// Strong comparison (If-Match, RFC 9110 8.8.3.2): "*", or a strong tag
  /// of `current`. A weak tag never matches.
  bool strong_match(version_t current) const;

  /// Weak comparison (If-None-Match on GET): "*", or any tag of `current`,
  /// W/"v" included.
  bool weak_match(version_t current) const;

  /// The versions a strong comparison can match, in order.
  std::vector<version_t> strong_versions() const;
};

/// The header's value as "*" or a list (empty list elements skipped, RFC
/// 9110 5.6.1); nullopt when malformed or when it names no tag at all.
std::optional<tag_condition> parse_tag_condition(std::string_view text);

/// A write precondition from If-Match / If-None-Match, or why the headers
/// are unusable. nullptr arguments mean "header absent".
struct precondition {
  condition cond;
  /// Set when the store's conditions cannot say what If-Match asks ("*",
  /// or a list with several tags that could match, or none): the gateway
  /// reads the key's version, checks it against this, then writes on
  /// condition::matches(that version). See check_then_write in
  /// handlers_kv.cpp for why that is as good as atomic.
  std::optional<tag_condition> check_first;
  std::string problem; // non-empty: answer 400 bad_request
};

/// For PUT: If-Match (see above) or If-None-Match: * (not both).
precondition write_precondition(const std::string_view* if_match,
                                const std::string_view* if_none_match);

/// For DELETE: If-Match only.
precondition delete_precondition(const std::string_view* if_match,
                                 const std::string_view* if_none_match);

} // namespace solver_state::gateway
