// Parses postgresql:// (or postgres://) state.type URLs into
// postgres_options: host, port, user, password, db, table, timeouts.

#include "backends/postgres/options.hpp"

#include <algorithm>

#include "backends/connection_url.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

bool valid_identifier(const std::string& s) {
  if (s.empty() || s.size() > 40 || (s[0] >= '0' && s[0] <= '9'))
    return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

caf::error bad(std::string what) {
  return make_state_error(state_errc::bad_request, std::move(what));
}

} // namespace

std::string postgres_options::server_name() const {
  std::string out;
  for (auto& [host, port] : hosts) {
    if (!out.empty())
      out += ',';
    out += host + ":" + std::to_string(port);
  }
  return out;
}

caf::expected<postgres_options> parse_postgres_url(std::string_view text) {
  auto url = parse_connection_url(text);
  if (!url)
    return std::move(url.error());
  if (url->scheme != "postgresql")
    return bad("expected scheme postgresql://, got " + url->scheme);
  if (auto err = reject_unknown_options(
        *url, {"table", "connect_timeout_ms", "timeout_ms",
               "target_session_attrs", "watches"}))
    return err;
  postgres_options out;
  out.hosts.clear();
  for (auto& h : url->hosts)
    out.hosts.emplace_back(h.host, h.port != 0 ? h.port : 5432);
  out.target_session_attrs =
    url->option("target_session_attrs", out.target_session_attrs);
  if (out.target_session_attrs != "read-write"
      && out.target_session_attrs != "primary"
      && out.target_session_attrs != "any")
    return bad("target_session_attrs must be read-write, primary or any, "
               "got '" + out.target_session_attrs + "'");
  out.user = url->user;
  out.password = url->password;
  out.dbname = url->path;
  if (out.user.empty())
    return bad("missing user (postgresql://user@host:port/db)");
  if (out.dbname.empty())
    return bad("missing database name (postgresql://user@host:port/db)");
  out.table = url->option("table", out.table);
  if (!valid_identifier(out.table))
    return bad("table must match [a-z_][a-z0-9_]* (at most 40 bytes), got '"
               + out.table + "'");
  if (auto err = read_timeouts(*url, out.connect_timeout, out.command_timeout))
    return err;
  if (auto err = read_watches_option(*url, out.local_watches))
    return err;
  return out;
}

} // namespace solver_state
