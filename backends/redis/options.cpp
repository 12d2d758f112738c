// Parses redis:// and redis-sentinel:// state.type URLs into redis_options:
// the server or the Sentinels and master name, user, password, db, key
// prefix, timeouts and replica acknowledgement; unknown options are refused.

#include "backends/redis/options.hpp"

#include "backends/connection_url.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

caf::error bad(std::string what) {
  return make_state_error(state_errc::bad_request, std::move(what));
}

caf::error read_db(const std::string& text, int64_t& db) {
  connection_url db_only;
  db_only.query["db"] = text;
  if (read_integer_option(db_only, "db", 0, 1'000'000, db))
    return bad("database must be a number, got '" + text + "'");
  return {};
}

/// The path of a redis-sentinel:// URL: "master-name" or "master-name/db".
caf::error read_master_path(const std::string& path, redis_options& out) {
  auto slash = path.find('/');
  out.master_name = path.substr(0, slash);
  if (out.master_name.empty())
    return bad("missing master name "
               "(redis-sentinel://host:port,host:port/master-name/db)");
  if (slash != std::string::npos)
    return read_db(path.substr(slash + 1), out.db);
  return {};
}

caf::error read_wait_options(const connection_url& url, redis_options& out) {
  if (auto err = read_integer_option(url, "wait_replicas", 0, 64,
                                     out.wait_replicas))
    return err;
  int64_t wait_ms = out.wait_timeout.count();
  if (auto err = read_integer_option(url, "wait_timeout_ms", 1, 600'000,
                                     wait_ms))
    return err;
  out.wait_timeout = std::chrono::milliseconds{wait_ms};
  // WAIT holds the reply until it times out: past the command timeout the
  // connection would be dropped as hung instead of the shortfall reported.
  if (out.wait_replicas > 0 && out.wait_timeout >= out.command_timeout)
    return bad("wait_timeout_ms (" + std::to_string(wait_ms)
               + ") must be less than timeout_ms ("
               + std::to_string(out.command_timeout.count()) + ")");
  return {};
}

} // namespace

std::string redis_options::server_name() const {
  if (sentinels.empty())
    return "redis " + host + ":" + std::to_string(port);
  return "redis master " + master_name + " (via "
         + std::to_string(sentinels.size()) + " sentinel"
         + (sentinels.size() == 1 ? "" : "s") + ")";
}

std::string redis_options::change_channel() const {
  return "solver-state:changes:" + std::to_string(db) + ":" + prefix;
}

caf::expected<redis_options> parse_redis_url(std::string_view text) {
  auto url = parse_connection_url(text);
  if (!url)
    return std::move(url.error());
  bool sentinel = url->scheme == "redis-sentinel";
  if (url->scheme != "redis" && !sentinel)
    return bad("expected scheme redis:// or redis-sentinel://, got "
               + url->scheme);
  if (auto err = reject_unknown_options(
        *url, {"prefix", "connect_timeout_ms", "timeout_ms", "wait_replicas",
               "wait_timeout_ms", "sentinel_password", "watches"}))
    return err;
  redis_options out;
  out.user = url->user;
  out.password = url->password;
  if (!url->user.empty() && !url->has_password)
    return bad("a Redis user needs a password (user:password@)");
  if (sentinel) {
    for (auto& h : url->hosts)
      out.sentinels.emplace_back(h.host, h.port != 0 ? h.port : 26379);
    if (auto err = read_master_path(url->path, out))
      return err;
    out.sentinel_password = url->option("sentinel_password");
  } else {
    if (auto err = reject_host_list(*url))
      return err;
    if (url->query.count("sentinel_password"))
      return bad("sentinel_password is an option of redis-sentinel:// URLs");
    out.host = url->host;
    if (url->port != 0)
      out.port = url->port;
    if (!url->path.empty())
      if (auto err = read_db(url->path, out.db))
        return err;
  }
  out.prefix = url->option("prefix");
  if (auto err = read_timeouts(*url, out.connect_timeout, out.command_timeout))
    return err;
  if (auto err = read_wait_options(*url, out))
    return err;
  if (auto err = read_watches_option(*url, out.local_watches))
    return err;
  return out;
}

} // namespace solver_state
