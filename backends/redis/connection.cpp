// One hiredis connection with command and connect timeouts: single commands
// and pipelines, dropped on failure and reconnected after a backoff; the
// master found through Sentinels when configured.

#include "backends/redis/connection.hpp"

#include <poll.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include <hiredis/hiredis.h>

#include <spdlog/spdlog.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string address(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

/// A connection to a Sentinel, for one question; freed when it goes.
struct sentinel_link {
  redisContext* ctx = nullptr;
  ~sentinel_link() {
    if (ctx)
      redisFree(ctx);
  }
  /// The reply to `argv`, or null with ctx->errstr set.
  redisReply* ask(std::vector<const char*> argv) {
    return static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(),
                       nullptr));
  }
};

/// Why one Sentinel gave no master; joined with the others' into the
/// connection's failure.
caf::error sentinel_error(std::string why) {
  return make_state_error(state_errc::backend_unavailable, std::move(why));
}

struct reply_owner {
  redisReply* r;
  ~reply_owner() {
    if (r)
      freeReplyObject(r);
  }
};

} // namespace

namespace {

/// Longest pause between reconnects. Behind Sentinels a failed attempt costs
/// a question to a Sentinel and a refused connect, and the master is back
/// (promoted) as soon as they agree: retry often, or a failover lasts up to
/// a pause longer than it has to.
std::chrono::milliseconds max_reconnect_pause(const redis_options& opts) {
  return std::chrono::milliseconds{opts.sentinels.empty() ? 2'000 : 250};
}

} // namespace

redis_connection::redis_connection(redis_options opts)
  : opts_(std::move(opts)),
    health_(opts_.server_name(), max_reconnect_pause(opts_)),
    server_(address(opts_.host, opts_.port)) {
}

redis_connection::~redis_connection() {
  if (ctx_)
    redisFree(ctx_);
}

caf::error redis_connection::drop(const std::string& why) {
  if (ctx_) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  return health_.failed(why);
}

void redis_connection::close() {
  if (ctx_) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

caf::expected<std::pair<std::string, uint16_t>>
redis_connection::ask_sentinel(const std::string& host, uint16_t port) {
  sentinel_link link;
  link.ctx = redisConnectWithTimeout(host.c_str(), port,
                                     to_timeval(opts_.connect_timeout));
  auto where = "sentinel " + address(host, port);
  if (!link.ctx || link.ctx->err)
    return sentinel_error(where + ": cannot connect"
                               + (link.ctx ? std::string{": "}
                                               + link.ctx->errstr
                                           : std::string{}));
  redisSetTimeout(link.ctx, to_timeval(opts_.command_timeout));
  if (!opts_.sentinel_password.empty()) {
    reply_owner auth{link.ask({"AUTH", opts_.sentinel_password.c_str()})};
    if (!auth.r || auth.r->type == REDIS_REPLY_ERROR)
      return sentinel_error(where + ": AUTH failed");
  }
  reply_owner r{link.ask({"SENTINEL", "get-master-addr-by-name",
                          opts_.master_name.c_str()})};
  if (!r.r)
    return sentinel_error(where + ": " + link.ctx->errstr);
  if (r.r->type == REDIS_REPLY_ERROR)
    return sentinel_error(where + ": " + std::string{r.r->str, r.r->len});
  if (r.r->type != REDIS_REPLY_ARRAY || r.r->elements != 2
      || r.r->element[0]->type != REDIS_REPLY_STRING
      || r.r->element[1]->type != REDIS_REPLY_STRING)
    return sentinel_error(where + " does not know master '"
                               + opts_.master_name + "'");
  auto port_text = std::string{r.r->element[1]->str, r.r->element[1]->len};
  auto master_port = std::strtoul(port_text.c_str(), nullptr, 10);
  if (master_port == 0 || master_port > 65535)
    return sentinel_error(where + " gave a bad port: " + port_text);
  return std::make_pair(
    std::string{r.r->element[0]->str, r.r->element[0]->len},
    static_cast<uint16_t>(master_port));
}

caf::expected<std::pair<std::string, uint16_t>>
redis_connection::locate_server() {
  if (opts_.sentinels.empty())
    return std::make_pair(opts_.host, opts_.port);
  // Any Sentinel that answers knows the current master (they agree on it
  // after a failover within a second or so); start with the last one that
  // answered, so a dead Sentinel costs a connect timeout once.
  std::string why;
  for (size_t i = 0; i < opts_.sentinels.size(); ++i) {
    auto n = (next_sentinel_ + i) % opts_.sentinels.size();
    auto& [host, port] = opts_.sentinels[n];
    auto master = ask_sentinel(host, port);
    if (master) {
      next_sentinel_ = n;
      return master;
    }
    why += (why.empty() ? "" : "; ") + message_of(master.error());
  }
  return make_state_error(state_errc::backend_unavailable, why);
}

caf::error redis_connection::check_master_role() {
  auto r = command({"ROLE"});
  if (!r)
    return std::move(r.error());
  auto* reply = r->get();
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
      && reply->element[0]->type == REDIS_REPLY_STRING
      && std::string_view{reply->element[0]->str, reply->element[0]->len}
           == "master")
    return {};
  // The Sentinels have not yet seen (or finished) a failover.
  return drop(server_ + " is not a master (yet): a failover in progress");
}

namespace {

/// The value of `field` in an INFO reply ("field:value\r\n" lines).
std::string_view info_field(std::string_view info, std::string_view field) {
  for (size_t at = 0; at < info.size();) {
    auto end = info.find('\n', at);
    auto line = info.substr(at, end == std::string_view::npos ? end : end - at);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.size() > field.size() && line.substr(0, field.size()) == field
        && line[field.size()] == ':')
      return line.substr(field.size() + 1);
    if (end == std::string_view::npos)
      break;
    at = end + 1;
  }
  return {};
}

} // namespace

caf::error redis_connection::check_answers() {
  auto r = command({"INFO", "memory"});
  if (!r)
    return std::move(r.error());
  auto* reply = r->get();
  // A server that renamed INFO away still answered: it is alive.
  if (reply->type != REDIS_REPLY_STRING)
    return {};
  std::string_view info{reply->str, reply->len};
  auto limit = info_field(info, "maxmemory");
  auto policy = info_field(info, "maxmemory_policy");
  if (!limit.empty() && limit != "0" && !policy.empty()
      && policy != "noeviction")
    spdlog::warn("{}: evicts keys at its maxmemory ({} bytes; "
                 "maxmemory-policy {}): acknowledged writes of this store can "
                 "vanish when it fills; set maxmemory-policy noeviction (writes "
                 "are then refused with 507 instead)",
                 opts_.server_name(), limit, policy);
  return {};
}

std::string redis_connection::transport_failure() const {
  if (!ctx_ || !ctx_->err)
    return "connection lost";
  // hiredis reports its socket timeout as the read's EAGAIN.
  if (ctx_->err == REDIS_ERR_IO
      && std::strcmp(ctx_->errstr, std::strerror(EAGAIN)) == 0)
    return "no answer within " + std::to_string(opts_.command_timeout.count())
           + " ms (timeout_ms)";
  return ctx_->errstr;
}

caf::error redis_connection::connect() {
  auto target = locate_server();
  if (!target) {
    // health_ names the master; the Sentinels' answers say why.
    auto why = message_of(target.error());
    return drop("no master found: " + why);
  }
  server_ = address(target->first, target->second);
  ctx_ = redisConnectWithTimeout(target->first.c_str(), target->second,
                                 to_timeval(opts_.connect_timeout));
  if (!ctx_)
    return drop("cannot allocate a connection");
  if (ctx_->err)
    return drop("cannot connect to " + server_ + ": " + ctx_->errstr);
  if (redisSetTimeout(ctx_, to_timeval(opts_.command_timeout)) != REDIS_OK)
    return drop("cannot set the command timeout");
  redisEnableKeepAlive(ctx_);
  replies_.attach(ctx_);
  // AUTH and SELECT go through command(): ctx_ is set, so no recursion.
  if (!opts_.password.empty()) {
    redis_args auth{"AUTH"};
    if (!opts_.user.empty())
      auth.push_back(opts_.user);
    auth.push_back(opts_.password);
    auto r = command(auth);
    if (!r)
      return std::move(r.error());
    if ((*r)->type == REDIS_REPLY_ERROR)
      return drop(std::string{"AUTH failed: "} + (*r)->str);
  }
  if (opts_.db != 0) {
    auto db = std::to_string(opts_.db);
    auto r = command({"SELECT", db});
    if (!r)
      return std::move(r.error());
    if ((*r)->type == REDIS_REPLY_ERROR)
      return drop(std::string{"SELECT failed: "} + (*r)->str);
  }
  if (!opts_.sentinels.empty())
    if (auto err = check_master_role())
      return err;
  // Connected only once the server answered: a frozen server's kernel
  // accepts the connection, and counting that as "up" would reset the
  // backoff and log it back every few seconds.
  if (auto err = check_answers())
    return err;
  demoted_ = false;
  health_.connected();
  ++generation_;
  return {};
}

caf::error redis_connection::ensure_connected() {
  if (ctx_)
    return {};
  if (auto err = health_.attempt_allowed())
    return err;
  return connect();
}

caf::expected<redis_reply> redis_connection::command(const redis_args& args) {
  // Connect first: connecting runs AUTH and SELECT through command(), which
  // reuses one_.
  if (auto err = ensure_connected())
    return err;
  one_.clear();
  one_.add_args(args);
  if (auto err = send(one_))
    return err;
  return read_reply();
}

caf::expected<std::vector<redis_reply>>
redis_connection::pipeline(const redis_batch& batch) {
  if (auto err = send(batch))
    return err;
  std::vector<redis_reply> out;
  out.reserve(batch.commands());
  for (size_t i = 0; i < batch.commands(); ++i) {
    auto reply = read_reply();
    if (!reply)
      return std::move(reply.error());
    out.push_back(std::move(*reply));
  }
  return out;
}

caf::error redis_connection::send(const redis_batch& batch) {
  // The server refused a write as a replica: it was demoted by a failover.
  // Find the master again now rather than fail every write until a
  // timeout.
  if (demoted_) {
    spdlog::warn("{}: {} answered READONLY (demoted by a failover): "
                 "reconnecting to the master",
                 opts_.server_name(), server_);
    demoted_ = false;
    close();
  }
  if (auto err = ensure_connected())
    return err;
  replies_.rewind(); // the caller is done with the previous replies
  refusal_.clear();
  // hiredis copies the formatted batch into its output buffer once; the
  // first read writes it out.
  auto wire = batch.wire();
  if (redisAppendFormattedCommand(ctx_, wire.data(), wire.size()) != REDIS_OK)
    return drop(ctx_->errstr);
  return {};
}

caf::expected<redis_reply>
redis_connection::next_pushed(std::chrono::milliseconds wait) {
  if (!ctx_)
    return health_.unavailable("not connected");
  // Rewind only between replies: a reply half read is built in the arena.
  if (ctx_->reader->ridx == -1)
    replies_.rewind();
  void* raw = nullptr;
  if (redisGetReplyFromReader(ctx_, &raw) != REDIS_OK)
    return drop(ctx_->errstr);
  if (!raw) {
    pollfd pfd{ctx_->fd, POLLIN, 0};
    auto n = ::poll(&pfd, 1, static_cast<int>(wait.count()));
    if (n < 0 && errno != EINTR)
      return drop(std::string{"poll: "} + std::strerror(errno));
    if (n <= 0)
      return redis_reply{};
    if (redisBufferRead(ctx_) != REDIS_OK
        || redisGetReplyFromReader(ctx_, &raw) != REDIS_OK)
      return drop(ctx_->err ? std::string{ctx_->errstr} : "connection lost");
  }
  return redis_reply{static_cast<const redisReply*>(raw)};
}

caf::error redis_connection::push_ping() {
  if (!ctx_)
    return health_.unavailable("not connected");
  static constexpr char ping[] = "*1\r\n$4\r\nPING\r\n";
  if (redisAppendFormattedCommand(ctx_, ping, sizeof ping - 1) != REDIS_OK)
    return drop(ctx_->errstr);
  // A few bytes: the socket takes them at once unless the connection is
  // gone (its send timeout bounds the wait).
  int done = 0;
  while (!done)
    if (redisBufferWrite(ctx_, &done) != REDIS_OK)
      return drop(ctx_->errstr);
  return {};
}

caf::expected<redis_reply> redis_connection::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw)
    return drop(transport_failure());
  auto* reply = static_cast<const redisReply*>(raw);
  if (reply->type == REDIS_REPLY_ERROR) {
    if (reply->len >= 8 && std::memcmp(reply->str, "READONLY", 8) == 0)
      demoted_ = true;
    if (refusal_.empty())
      refusal_.assign(reply->str, reply->len);
  }
  return redis_reply{reply};
}

} // namespace solver_state
