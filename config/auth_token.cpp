// The bearer token's one rule: no whitespace at its ends, no control byte.

#include "config/auth_token.hpp"

namespace solver_state {

namespace {

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

/// The byte as a reader names it: the usual culprits by name.
std::string byte_name(unsigned char c) {
  switch (c) {
    case '\n':
      return "a newline";
    case '\r':
      return "a carriage return";
    case '\t':
      return "a tab";
    default: {
      static const char* hex = "0123456789abcdef";
      return std::string{"the control byte 0x"} + hex[c >> 4] + hex[c & 15];
    }
  }
}

} // namespace

std::string auth_token_problem(std::string_view token) {
  for (size_t i = 0; i < token.size(); ++i) {
    auto c = static_cast<unsigned char>(token[i]);
    if (is_control(c))
      return "holds " + byte_name(c) + " (byte " + std::to_string(i + 1)
             + " of " + std::to_string(token.size())
             + (i + 1 == token.size() && c == '\n'
                  ? "; the end of a secret file?"
                  : "")
             + "), which no client can send in a header: remove it";
  }
  if (!token.empty() && (token.front() == ' ' || token.back() == ' '))
    return std::string{"begins or ends with a space, which HTTP trims from "
                       "what a client sends, so no request could match: "
                       "remove it"};
  return {};
}

} // namespace solver_state
