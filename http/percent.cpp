#include "http/percent.hpp"

namespace solver_state::gateway {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      auto hi = hex_value(text[i + 1]);
      auto lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
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
