// Parses redis:// state.type URLs into redis_options: host, port, user,
// password, db, key prefix and timeouts; unknown options are refused.

#include "backends/redis/options.hpp"

#include "backends/connection_url.hpp"
#include "messages/errors.hpp"

namespace solver_state {

caf::expected<redis_options> parse_redis_url(std::string_view text) {
  auto url = parse_connection_url(text);
  if (!url)
    return std::move(url.error());
  if (url->scheme != "redis")
    return make_state_error(state_errc::bad_request,
                            "expected scheme redis://, got " + url->scheme);
  if (auto err = reject_unknown_options(
        *url, {"prefix", "connect_timeout_ms", "timeout_ms"}))
    return err;
  redis_options out;
  out.host = url->host;
  if (url->port != 0)
    out.port = url->port;
  out.user = url->user;
  out.password = url->password;
  if (!url->user.empty() && !url->has_password)
    return make_state_error(state_errc::bad_request,
                            "a Redis user needs a password (user:password@)");
  if (!url->path.empty()) {
    connection_url db_only;
    db_only.query["db"] = url->path;
    if (auto err = read_integer_option(db_only, "db", 0, 1'000'000, out.db))
      return make_state_error(state_errc::bad_request,
                              "database must be a number, got '" + url->path
                                + "'");
  }
  out.prefix = url->option("prefix");
  if (auto err = read_timeouts(*url, out.connect_timeout, out.command_timeout))
    return err;
  return out;
}

} // namespace solver_state
