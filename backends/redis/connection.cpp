// One hiredis connection with command and connect timeouts: single commands
// and pipelines, dropped on failure and reconnected after a backoff.

#include "backends/redis/connection.hpp"

#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

} // namespace

redis_connection::redis_connection(redis_options opts)
  : opts_(std::move(opts)),
    health_("redis " + opts_.host + ":" + std::to_string(opts_.port)) {
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

caf::error redis_connection::connect() {
  ctx_ = redisConnectWithTimeout(opts_.host.c_str(), opts_.port,
                                 to_timeval(opts_.connect_timeout));
  if (!ctx_)
    return drop("cannot allocate a connection");
  if (ctx_->err)
    return drop(std::string{"cannot connect: "} + ctx_->errstr);
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
  if (auto err = ensure_connected())
    return err;
  replies_.rewind(); // the caller is done with the previous replies
  // hiredis copies the formatted batch into its output buffer once; the
  // first read writes it out.
  auto wire = batch.wire();
  if (redisAppendFormattedCommand(ctx_, wire.data(), wire.size()) != REDIS_OK)
    return drop(ctx_->errstr);
  return {};
}

caf::expected<redis_reply> redis_connection::read_reply() {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw)
    return drop(ctx_->err ? std::string{ctx_->errstr} : "connection lost");
  return redis_reply{static_cast<const redisReply*>(raw)};
}

} // namespace solver_state
