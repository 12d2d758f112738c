// Percent-decoding for request targets, query strings and connection URLs;
// percent-encoding for the command-line client's request targets.

#include "util/percent.hpp"

#include <algorithm>

#include "util/hex.hpp"

namespace solver_state {

namespace {

std::optional<std::string> decode(std::string_view text, bool plus_is_space) {
  std::string in{text};
  if (plus_is_space)
    std::replace(in.begin(), in.end(), '+', ' ');
  std::string out;
  if (!percent_decode(in, out))
    return std::nullopt;
  return out;
}

} // namespace

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size())
      return false;
    auto hi = hex_digit_value(in[i + 1]);
    auto lo = hex_digit_value(in[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::optional<std::string> percent_decode(std::string_view text) {
  return decode(text, false);
}

std::optional<std::string> query_decode(std::string_view text) {
  return decode(text, true);
}

std::string percent_encode(std::string_view bytes) {
  constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                      || (c >= '0' && c <= '9') || c == '-' || c == '.'
                      || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
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

} // namespace solver_state
