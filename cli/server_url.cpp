// Parsing of the service's base URL.

#include "cli/server_url.hpp"

#include <algorithm>

namespace solver_state::cli {

std::string server_url::host_header() const {
  auto h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port == "80" ? h : h + ":" + port;
}

expected<server_url> parse_server_url(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return usage_failure("bad URL '" + std::string{text} + "': " + why);
  };
  constexpr std::string_view scheme = "http://";
  if (text.substr(0, scheme.size()) != scheme)
    return bad(text.substr(0, 8) == "https://"
                 ? "https is not spoken here; use a TLS proxy's plain side "
                   "or loopback"
                 : "it must start with http://");
  server_url out;
  out.text = std::string{text};
  auto rest = text.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.base_path = std::string{rest.substr(slash)};
    while (!out.base_path.empty() && out.base_path.back() == '/')
      out.base_path.pop_back();
  }
  if (authority.find('@') != std::string_view::npos)
    return bad("credentials in the URL are not accepted; set "
               "SOLVER_STATE_AUTH_TOKEN");
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return bad("unclosed '['");
    out.host = std::string{authority.substr(1, close - 1)};
    auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':')
      return bad("unexpected text after ']'");
    port = after.empty() ? std::string_view{} : after.substr(1);
  } else {
    auto colon = authority.rfind(':');
    out.host = std::string{authority.substr(0, colon)};
    if (colon != std::string_view::npos)
      port = authority.substr(colon + 1);
  }
  if (out.host.empty())
    return bad("no host");
  out.port = port.empty() ? "80" : std::string{port};
  bool digits = std::all_of(out.port.begin(), out.port.end(),
                            [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || out.port.size() > 5 || std::stoi(out.port) > 65535)
    return bad("bad port '" + out.port + "'");
  return out;
}

} // namespace solver_state::cli
