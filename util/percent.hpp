#pragma once

// Percent-encoding (RFC 3986) as URLs carry it: request targets, query
// strings and connection strings all decode through here, and the
// command-line client encodes keys and prefixes with it.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace solver_state {

/// Decodes %XX escapes into `out` ('+' stays '+'); false when an escape is
/// malformed ("%4", "%zz").
bool percent_decode(std::string_view in, std::string& out);

/// Decodes %XX escapes of a path segment; nullopt when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view text);

/// Decodes a query-string name or value: like percent_decode, but '+' is a
/// space (HTML form encoding, what curl --data-urlencode and browsers send).
std::optional<std::string> query_decode(std::string_view text);

/// Encodes every byte but the unreserved ones (A-Z a-z 0-9 - . _ ~) as %XX,
/// '/' included: the result is one path segment or one query value.
std::string percent_encode(std::string_view bytes);

struct query_param {
  std::string name;
  std::string value;
};

/// Splits and decodes "a=1&b=x%20y"; nullopt on a malformed escape. Empty
/// pieces ("a=1&&b=2") are skipped; "flag" alone has an empty value.
std::optional<std::vector<query_param>> parse_query(std::string_view query);

} // namespace solver_state
