#include "http/percent.hpp"

#include <algorithm>

#include "backends/connection_url.hpp"

namespace solver_state::gateway {

namespace {

/// One decoder for the whole project (backends/connection_url.cpp); the
/// gateway only adds form encoding's '+' for space in query strings.
std::optional<std::string> decode(std::string_view text, bool plus_is_space) {
  std::string in{text};
  if (plus_is_space)
    std::replace(in.begin(), in.end(), '+', ' ');
  std::string out;
  if (!solver_state::percent_decode(in, out))
    return std::nullopt;
  return out;
}

} // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  return decode(text, false);
}

std::optional<std::string> query_decode(std::string_view text) {
  return decode(text, true);
}

std::optional<std::vector<query_param>> parse_query(std::string_view query) {
  std::vector<query_param> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{}
                                          : query.substr(amp + 1);
    if (piece.empty())
      continue;
    auto eq = piece.find('=');
    auto name = query_decode(piece.substr(0, eq));
    auto value = query_decode(eq == std::string_view::npos
                                ? std::string_view{}
                                : piece.substr(eq + 1));
    if (!name || !value)
      return std::nullopt;
    out.push_back({std::move(*name), std::move(*value)});
  }
  return out;
}

} // namespace solver_state::gateway
