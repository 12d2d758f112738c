// Parsing of the scheme://user:password@host:port/path?query URLs that name
// network backends in state.type, password redaction and shared URL options.

#include "backends/connection_url.hpp"

#include <algorithm>
#include <cctype>

#include "messages/errors.hpp"
#include "util/percent.hpp"

namespace solver_state {

namespace {

caf::error bad(std::string what) {
  return make_state_error(state_errc::bad_request, std::move(what));
}

bool valid_scheme(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0])))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-'
           || c == '.';
  });
}

caf::error parse_port(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5
      || !std::all_of(text.begin(), text.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return bad("port must be a number between 1 and 65535, got '"
               + std::string{text} + "'");
  auto n = std::stoul(std::string{text});
  if (n == 0 || n > 65535)
    return bad("port must be between 1 and 65535, got " + std::string{text});
  port = static_cast<uint16_t>(n);
  return {};
}

/// host, host:port, [v6], [v6]:port
caf::error parse_host_port(std::string_view text, url_host& out) {
  if (text.empty())
    return bad("missing host");
  std::string_view port_text;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return bad("unterminated '[' in host");
    out.host = std::string{text.substr(1, close - 1)};
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return bad("unexpected text after ']' in host");
      port_text = rest.substr(1);
      if (port_text.empty())
        return bad("empty port");
    }
  } else {
    auto colon = text.rfind(':');
    out.host = std::string{text.substr(0, colon)};
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      if (port_text.empty())
        return bad("empty port");
    }
  }
  if (out.host.empty())
    return bad("missing host");
  if (!port_text.empty())
    return parse_port(port_text, out.port);
  return {};
}

caf::error parse_query(std::string_view text, connection_url& out) {
  while (!text.empty()) {
    auto amp = text.find('&');
    auto pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view{}
                                         : text.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    std::string key;
    std::string value;
    if (!percent_decode(pair.substr(0, eq), key)
        || (eq != std::string_view::npos
            && !percent_decode(pair.substr(eq + 1), value)))
      return bad("malformed %-escape in query");
    if (key.empty())
      return bad("empty query parameter name");
    if (out.query.count(key))
      return bad("query parameter '" + key + "' given twice");
    out.query.emplace(std::move(key), std::move(value));
  }
  return {};
}

} // namespace

std::string connection_url::option(const std::string& key,
                                   const std::string& fallback) const {
  auto it = query.find(key);
  return it == query.end() ? fallback : it->second;
}

caf::expected<connection_url> parse_connection_url(std::string_view text) {
  connection_url out;
  auto sep = text.find("://");
  if (sep == std::string_view::npos)
    return bad("expected scheme://host[:port][/path], got '"
               + std::string{text} + "'");
  auto scheme = text.substr(0, sep);
  if (!valid_scheme(scheme))
    return bad("invalid scheme '" + std::string{scheme} + "'");
  out.scheme = std::string{scheme};
  auto rest = text.substr(sep + 3);
  for (char c : rest)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return bad("connection string contains a space or control character");
  auto query_at = rest.find('?');
  auto before_query = rest.substr(0, query_at);
  if (query_at != std::string_view::npos)
    if (auto err = parse_query(rest.substr(query_at + 1), out))
      return err;
  auto slash = before_query.find('/');
  auto authority = before_query.substr(0, slash);
  if (slash != std::string_view::npos
      && !percent_decode(before_query.substr(slash + 1), out.path))
    return bad("malformed %-escape in path");
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    if (!percent_decode(userinfo.substr(0, colon), out.user))
      return bad("malformed %-escape in user");
    if (colon != std::string_view::npos) {
      out.has_password = true;
      if (!percent_decode(userinfo.substr(colon + 1), out.password))
        return bad("malformed %-escape in password");
    }
  }
  // A comma never appears in a host name, an IPv6 literal or a port.
  for (;;) {
    auto comma = authority.find(',');
    url_host h;
    if (auto err = parse_host_port(authority.substr(0, comma), h))
      return err;
    out.hosts.push_back(std::move(h));
    if (comma == std::string_view::npos)
      break;
    authority = authority.substr(comma + 1);
  }
  out.host = out.hosts.front().host;
  out.port = out.hosts.front().port;
  return out;
}

caf::error read_integer_option(const connection_url& url,
                               const std::string& key, int64_t lo, int64_t hi,
                               int64_t& out) {
  auto it = url.query.find(key);
  if (it == url.query.end())
    return {};
  auto& text = it->second;
  auto range = "between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (text.empty() || text.size() > 18
      || !std::all_of(text.begin(), text.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return bad(key + " must be a number " + range + ", got '" + text + "'");
  auto n = std::stoll(text);
  if (n < lo || n > hi)
    return bad(key + " must be " + range + ", got " + text);
  out = n;
  return {};
}

caf::error read_timeouts(const connection_url& url,
                         std::chrono::milliseconds& connect,
                         std::chrono::milliseconds& command) {
  int64_t connect_ms = connect.count();
  int64_t command_ms = command.count();
  if (auto err = read_integer_option(url, "connect_timeout_ms", 1, 600'000,
                                     connect_ms))
    return err;
  if (auto err = read_integer_option(url, "timeout_ms", 1, 600'000,
                                     command_ms))
    return err;
  connect = std::chrono::milliseconds{connect_ms};
  command = std::chrono::milliseconds{command_ms};
  return {};
}

caf::error reject_host_list(const connection_url& url) {
  if (url.hosts.size() > 1)
    return bad("expected one host, got " + std::to_string(url.hosts.size())
               + " (a list of hosts is for redis-sentinel:// and "
                 "postgresql://)");
  return {};
}

caf::error read_watches_option(const connection_url& url, bool& local) {
  auto it = url.query.find("watches");
  if (it != url.query.end() && it->second != "local")
    return bad("watches must be local (this instance is the only writer: "
               "it reads no change feed), got '" + it->second + "'");
  local = it != url.query.end();
  return {};
}

caf::error
reject_unknown_options(const connection_url& url,
                       std::initializer_list<std::string_view> known) {
  for (auto& [key, value] : url.query)
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string names;
      for (auto k : known) {
        if (!names.empty())
          names += ", ";
        names += k;
      }
      return bad("unknown option '" + key + "' (known: " + names + ")");
    }
  return {};
}

namespace {

/// `text` with the value of every query option whose name ends in
/// "password" replaced by "***".
std::string redact_query_passwords(std::string text) {
  auto query = text.find('?');
  if (query == std::string::npos)
    return text;
  size_t pos = query + 1;
  while (pos < text.size()) {
    auto amp = text.find('&', pos);
    auto end = amp == std::string::npos ? text.size() : amp;
    auto eq = text.find('=', pos);
    if (eq != std::string::npos && eq < end && eq - pos >= 8
        && text.compare(eq - 8, 8, "password") == 0) {
      text.replace(eq + 1, end - eq - 1, "***");
      end = eq + 4;
    }
    pos = end + 1;
  }
  return text;
}

std::string redact_userinfo(std::string_view text) {
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos)
    return std::string{text};
  auto auth_start = scheme_end + 3;
  auto at = text.find('@', auth_start);
  auto slash = text.find('/', auth_start);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at))
    return std::string{text};
  auto colon = text.find(':', auth_start);
  if (colon == std::string_view::npos || colon > at)
    return std::string{text};
  return std::string{text.substr(0, colon + 1)} + "***"
         + std::string{text.substr(at)};
}

} // namespace

std::string redact_password(std::string_view text) {
  if (text.find("://") == std::string_view::npos)
    return std::string{text};
  return redact_query_passwords(redact_userinfo(text));
}

} // namespace solver_state
