// Keys, targets and conditional headers from command-line arguments.

#include "cli/request_parts.hpp"

#include "messages/keys.hpp"
#include "util/percent.hpp"

namespace solver_state::cli {

maybe_failure check_key(std::string_view key) {
  if (auto problem = key_problem(key); !problem.empty())
    return usage_failure("bad key: " + problem);
  return std::nullopt;
}

std::string state_target(std::string_view key) {
  return "/v1/state/" + percent_encode(key);
}

std::string list_target(std::string_view prefix, long long limit,
                        const std::optional<std::string>& cursor) {
  auto out = "/v1/state?prefix=" + percent_encode(prefix)
             + "&limit=" + std::to_string(limit);
  if (cursor)
    out += "&cursor=" + percent_encode(*cursor);
  return out;
}

std::string prefix_target(std::string_view prefix) {
  return "/v1/state?prefix=" + percent_encode(prefix);
}

expected<std::string> if_match_header(std::string_view argument) {
  auto bad = [&] {
    return usage_failure("--if-match takes an ETag (\"123\" or 123) or *, "
                         "not '" + std::string{argument} + "'");
  };
  if (argument == "*")
    return std::string{argument};
  auto tag = argument;
  if (tag.substr(0, 2) == "W/")
    tag.remove_prefix(2);
  bool quoted = tag.size() >= 2 && tag.front() == '"' && tag.back() == '"';
  auto inner = quoted ? tag.substr(1, tag.size() - 2) : tag;
  if (inner.empty() || inner.find_first_of("\", ") != std::string_view::npos)
    return bad();
  for (unsigned char c : inner)
    if (c < 0x21 || c == 0x7F)
      return bad();
  if (quoted)
    return std::string{argument};
  if (tag.size() != argument.size()) // W/123: a weak tag must be quoted
    return bad();
  return "\"" + std::string{argument} + "\"";
}

} // namespace solver_state::cli
