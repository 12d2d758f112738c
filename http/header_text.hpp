#pragma once

// Reading header field values: the optional whitespace (RFC 9110 5.6.3)
// around a list element or a value.

#include <string_view>

namespace solver_state::gateway {

inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

/// `s` without the spaces and tabs around it.
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back()))
    s.remove_suffix(1);
  return s;
}

} // namespace solver_state::gateway
