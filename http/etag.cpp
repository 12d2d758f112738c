// Versions as strong ETags ("42") and the If-Match / If-None-Match rules
// of PUT and DELETE, with a 400 message for unusable headers.

#include "http/etag.hpp"

namespace solver_state::gateway {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

precondition if_match_of(std::string_view header) {
  precondition out;
  auto v = parse_etag(header);
  if (!v) {
    out.problem = "If-Match must be one entity tag such as \"42\", got '"
                  + std::string{trim(header)} + "'";
    return out;
  }
  out.cond = condition::matches(*v);
  return out;
}

} // namespace

std::string format_etag(version_t version) {
  return '"' + std::to_string(version) + '"';
}

std::optional<version_t> parse_etag(std::string_view text) {
  text = trim(text);
  if (text.size() < 3 || text.size() > 22 || text.front() != '"'
      || text.back() != '"')
    return std::nullopt;
  version_t v = 0;
  for (char c : text.substr(1, text.size() - 2)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    auto next = v * 10 + static_cast<version_t>(c - '0');
    if (next / 10 != v)
      return std::nullopt; // overflow
    v = next;
  }
  return v;
}

precondition write_precondition(const std::string_view* if_match,
                                const std::string_view* if_none_match) {
  precondition out;
  if (if_match && if_none_match) {
    out.problem = "If-Match and If-None-Match cannot be combined";
    return out;
  }
  if (if_match)
    return if_match_of(*if_match);
  if (if_none_match) {
    if (trim(*if_none_match) != "*") {
      out.problem = "on writes If-None-Match must be *";
      return out;
    }
    out.cond = condition::absent();
  }
  return out;
}

precondition delete_precondition(const std::string_view* if_match,
                                 const std::string_view* if_none_match) {
  if (if_none_match) {
    precondition out;
    out.problem = "If-None-Match is not supported on DELETE";
    return out;
  }
  return if_match ? if_match_of(*if_match) : precondition{};
}

} // namespace solver_state::gateway
