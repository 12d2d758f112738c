// Versions as strong ETags ("42"), If-Match / If-None-Match values ("*" or
// lists of tags) and the If-Match / If-None-Match rules of PUT and DELETE,
// with a 400 message for unusable headers.

#include "http/etag.hpp"

#include "http/header_text.hpp"

namespace solver_state::gateway {

namespace {

/// Reads one entity tag at the front of `s` and removes it; nullopt when
/// it is not [W/]"etagc*" (RFC 9110 8.8.3).
std::optional<entity_tag> take_tag(std::string_view& s) {
  entity_tag tag;
  if (s.substr(0, 2) == "W/") {
    tag.weak = true;
    s.remove_prefix(2);
  }
  if (s.empty() || s.front() != '"')
    return std::nullopt;
  auto close = s.find('"', 1);
  if (close == std::string_view::npos)
    return std::nullopt;
  auto opaque = s.substr(0, close + 1);
  for (unsigned char c : opaque.substr(1, close - 1))
    if (c < 0x21 || c == 0x7F)
      return std::nullopt;
  // Ours only when it is exactly the form we send: strong comparison is
  // byte for byte, so "007" is not "7". No value has version 0 (a backend
  // may use 0 for "absent"): "0" is a tag that matches nothing.
  auto v = parse_etag(opaque);
  if (v && *v != 0 && format_etag(*v) == opaque)
    tag.version = v;
  s.remove_prefix(close + 1);
  return tag;
}

precondition if_match_of(std::string_view header) {
  precondition out;
  auto tags = parse_tag_condition(header);
  if (!tags) {
    out.problem = "If-Match must be * or a list of entity tags such as "
                  "\"42\", got '"
                  + std::string{trim_ows(header)} + "'";
    return out;
  }
  // With exactly one tag that can match, the store's own condition says
  // it, checked atomically with the write; anything else needs a look at
  // the current version first.
  auto strong = tags->strong_versions();
  if (!tags->any && strong.size() == 1)
    out.cond = condition::matches(strong.front());
  else
    out.check_first = std::move(*tags);
  return out;
}

} // namespace

std::string format_etag(version_t version) {
  return '"' + std::to_string(version) + '"';
}

std::optional<version_t> parse_etag(std::string_view text) {
  text = trim_ows(text);
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

bool tag_condition::strong_match(version_t current) const {
  if (any)
    return true;
  for (auto& t : tags)
    if (!t.weak && t.version == current)
      return true;
  return false;
}

bool tag_condition::weak_match(version_t current) const {
  if (any)
    return true;
  for (auto& t : tags)
    if (t.version == current)
      return true;
  return false;
}

std::vector<version_t> tag_condition::strong_versions() const {
  std::vector<version_t> out;
  for (auto& t : tags)
    if (!t.weak && t.version)
      out.push_back(*t.version);
  return out;
}

std::optional<tag_condition> parse_tag_condition(std::string_view text) {
  text = trim_ows(text);
  tag_condition out;
  if (text == "*") {
    out.any = true;
    return out;
  }
  while (true) {
    while (!text.empty() && (text.front() == ',' || is_ows(text.front())))
      text.remove_prefix(1); // separators and empty list elements
    if (text.empty())
      break;
    auto tag = take_tag(text);
    if (!tag)
      return std::nullopt;
    out.tags.push_back(*tag);
    text = trim_ows(text);
    if (!text.empty() && text.front() != ',')
      return std::nullopt;
  }
  if (out.tags.empty())
    return std::nullopt;
  return out;
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
    if (trim_ows(*if_none_match) != "*") {
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
