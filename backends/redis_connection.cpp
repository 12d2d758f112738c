#include "backends/redis_connection.hpp"

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

struct argv_buffer {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;

  explicit argv_buffer(const redis_args& args) {
    ptrs.reserve(args.size());
    lens.reserve(args.size());
    for (auto a : args) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
  }

  int argc() const { return static_cast<int>(ptrs.size()); }
};

} // namespace

void redis_reply_deleter::operator()(redisReply* r) const {
  freeReplyObject(r);
}

redis_connection::redis_connection(redis_options opts)
  : opts_(std::move(opts)) {
}

redis_connection::~redis_connection() {
  if (ctx_)
    redisFree(ctx_);
}

caf::error redis_connection::unavailable(const std::string& why) const {
  return make_state_error(state_errc::backend_unavailable,
                          "redis " + opts_.host + ":"
                            + std::to_string(opts_.port) + ": " + why);
}

caf::error redis_connection::drop(const std::string& why) {
  if (ctx_) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  last_error_ = why;
  backoff_.failed();
  return unavailable(why);
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
  backoff_.succeeded();
  ++generation_;
  return {};
}

caf::error redis_connection::ensure_connected() {
  if (ctx_)
    return {};
  if (!backoff_.due())
    return unavailable(last_error_ + " (next reconnect in "
                       + std::to_string(backoff_.remaining().count())
                       + " ms)");
  return connect();
}

caf::expected<redis_reply> redis_connection::command(const redis_args& args) {
  if (auto err = ensure_connected())
    return err;
  argv_buffer argv{args};
  auto raw = redisCommandArgv(ctx_, argv.argc(), argv.ptrs.data(),
                              argv.lens.data());
  if (!raw)
    return drop(ctx_->err ? std::string{ctx_->errstr} : "connection lost");
  return redis_reply{static_cast<redisReply*>(raw)};
}

caf::expected<std::vector<redis_reply>>
redis_connection::pipeline(const std::vector<redis_args>& commands) {
  if (auto err = ensure_connected())
    return err;
  for (auto& args : commands) {
    argv_buffer argv{args};
    if (redisAppendCommandArgv(ctx_, argv.argc(), argv.ptrs.data(),
                               argv.lens.data())
        != REDIS_OK)
      return drop(ctx_->errstr);
  }
  std::vector<redis_reply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || !raw)
      return drop(ctx_->err ? std::string{ctx_->errstr} : "connection lost");
    out.emplace_back(static_cast<redisReply*>(raw));
  }
  return out;
}

} // namespace solver_state
