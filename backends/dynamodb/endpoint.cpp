// Parses dynamodb:// and dynamodbs:// state.type URLs into an endpoint: host,
// port, table, region, TLS and CA file, timeouts and sweep interval.

#include "backends/dynamodb/endpoint.hpp"

#include <cctype>
#include <charconv>
#include <cstdlib>

#include "backends/connection_url.hpp"
#include "util/percent.hpp"
#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace {

caf::error bad(std::string_view url, std::string why) {
  return make_state_error(state_errc::bad_request,
                          "state.type '" + std::string{url} + "': " + why);
}

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && !text.empty();
}

std::string default_region() {
  for (auto name : {"AWS_REGION", "AWS_DEFAULT_REGION"})
    if (auto value = std::getenv(name); value && *value)
      return value;
  return "us-east-1";
}

bool valid_table_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 255)
    return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'
          || c == '.'))
      return false;
  return true;
}

/// Applies one query option; empty on success, else the problem.
std::string apply_option(endpoint& ep, std::string_view name,
                         std::string_view value) {
  int64_t n = 0;
  if (name == "region") {
    if (value.empty())
      return "region is empty";
    ep.region = value;
  } else if (name == "tls") {
    if (value != "0" && value != "1")
      return "tls must be 0 or 1";
    ep.tls = value == "1";
  } else if (name == "ca_file") {
    if (value.empty() || value.find('\0') != std::string_view::npos)
      return "ca_file must be a path";
    ep.ca_file = value;
  } else if (name == "timeout_ms" || name == "connect_timeout_ms") {
    if (!parse_number(value, n) || n <= 0 || n > 600'000)
      return std::string{name} + " must be 1..600000";
    (name == "timeout_ms" ? ep.request_timeout : ep.connect_timeout)
      = std::chrono::milliseconds{n};
  } else if (name == "watches") {
    if (value != "local")
      return "watches must be local (this node's writes only)";
    ep.local_watches = true;
  } else if (name == "sweep_interval_s") {
    if (!parse_number(value, n) || n < 0)
      return "sweep_interval_s must be a number of seconds";
    ep.sweep_interval = std::chrono::seconds{n};
  } else {
    return "unknown option '" + std::string{name} + "'";
  }
  return {};
}

} // namespace

std::string endpoint::host_header() const {
  bool default_port = port == (tls ? 443 : 80);
  auto h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return default_port ? h : h + ":" + std::to_string(port);
}

caf::expected<endpoint> parse_endpoint(std::string_view url) {
  endpoint ep;
  std::string_view rest;
  if (url.substr(0, 11) == "dynamodb://") {
    rest = url.substr(11);
  } else if (url.substr(0, 12) == "dynamodbs://") {
    rest = url.substr(12);
    ep.tls = true;
  } else {
    return bad(url, "expected dynamodb://host:port/table");
  }
  auto slash = rest.find('/');
  if (slash == std::string_view::npos)
    return bad(url, "no table name (dynamodb://host:port/table)");
  auto authority = rest.substr(0, slash);
  if (authority.find(',') != std::string_view::npos)
    return bad(url, "one endpoint only (DynamoDB replicates behind it; for "
                    "other regions see global tables)");
  auto path = rest.substr(slash + 1);
  auto query_pos = path.find('?');
  auto query = query_pos == std::string_view::npos ? std::string_view{}
                                                   : path.substr(query_pos + 1);
  ep.table = path.substr(0, query_pos);
  if (!valid_table_name(ep.table))
    return bad(url, "table name must be 3..255 of [A-Za-z0-9_.-]");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return bad(url, "unclosed '[' in host");
    ep.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':')
        return bad(url, "junk after ']'");
      port_text = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    ep.host = authority.substr(0, colon);
    if (colon != std::string_view::npos)
      port_text = authority.substr(colon + 1);
  }
  if (ep.host.empty())
    return bad(url, "no host");
  ep.region = default_region();
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{}
                                          : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos)
      return bad(url, "option '" + std::string{pair} + "' has no '='");
    std::string value;
    if (!percent_decode(pair.substr(eq + 1), value))
      return bad(url, "option '" + std::string{pair} + "' has a bad %-escape");
    if (auto problem = apply_option(ep, pair.substr(0, eq), value);
        !problem.empty())
      return bad(url, problem);
  }
  if (!ep.ca_file.empty() && !ep.tls)
    return bad(url, "ca_file needs HTTPS (dynamodbs:// or tls=1)");
  ep.port = ep.tls ? 443 : 80;
  if (!port_text.empty() && (!parse_number(port_text, ep.port) || ep.port == 0))
    return bad(url, "port must be 1..65535");
  return ep;
}

} // namespace solver_state::dynamodb
