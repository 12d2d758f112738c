// The Redis change feed: SUBSCRIBE, then Pub/Sub messages parsed into
// changes.

#include "backends/redis/feed.hpp"

#include <chrono>
#include <cstdlib>
#include <optional>

#include <hiredis/hiredis.h>

#include <spdlog/spdlog.h>

#include "backends/redis/connection.hpp"
#include "messages/errors.hpp"
#include "util/decimal_field.hpp"
#include "util/wall_clock.hpp"

namespace solver_state {

namespace {

class redis_change_feed final : public change_feed {
public:
  explicit redis_change_feed(redis_options opts)
    : channel_(opts.change_channel()), conn_(std::move(opts)) {
  }

  std::string describe() const override {
    return conn_.options().server_name() + " channel \"" + channel_ + "\"";
  }

  caf::error start() override {
    heard();
    auto r = conn_.command({"SUBSCRIBE", channel_});
    if (!r)
      return std::move(r.error());
    auto* reply = r->get();
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || text_of(reply->element[0]) != "subscribe")
      return make_state_error(state_errc::backend_error,
                              describe() + ": SUBSCRIBE was refused");
    return {};
  }

  caf::error next(std::vector<change_event>& out, size_t max,
                  std::chrono::milliseconds wait) override {
    for (size_t n = 0; n < max; ++n) {
      auto r = conn_.next_pushed(n == 0 ? wait : std::chrono::milliseconds{0});
      if (!r)
        return std::move(r.error());
      auto* reply = r->get();
      if (reply == nullptr)
        return n == 0 ? check_alive() : caf::error{};
      heard();
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
          || text_of(reply->element[0]) != "message"
          || reply->element[2]->type != REDIS_REPLY_STRING)
        continue; // not a message of the channel
      change_event ev;
      if (parse_redis_change(text_of(reply->element[2]), ev))
        out.push_back(std::move(ev));
      else if (!warned_) {
        warned_ = true;
        spdlog::warn("{}: a message that is not a change was skipped "
                     "(another program publishes on this channel?)",
                     describe());
      }
    }
    return {};
  }

  bool reports_expiries() const override { return false; }

  /// The store's expiry sorted set (scored by expires_at), from a short
  /// connection of its own: this one only listens now.
  caf::expected<std::vector<std::pair<std::string, unix_ms>>>
  expiries(size_t max) override {
    redis_connection side{conn_.options()};
    auto key = conn_.options().prefix + "expiry";
    auto after = "(" + std::to_string(unix_now_ms());
    auto limit = std::to_string(max);
    auto r = side.command(
      {"ZRANGEBYSCORE", key, after, "+inf", "WITHSCORES", "LIMIT", "0", limit});
    if (!r)
      return std::move(r.error());
    auto* reply = r->get();
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0)
      return make_state_error(state_errc::backend_error,
                              describe() + ": ZRANGEBYSCORE of " + key
                                + " did not answer pairs");
    std::vector<std::pair<std::string, unix_ms>> out;
    out.reserve(reply->elements / 2);
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
      auto score = std::string{text_of(reply->element[i + 1])};
      out.emplace_back(std::string{text_of(reply->element[i])},
                       static_cast<unix_ms>(std::strtoll(score.c_str(),
                                                         nullptr, 10)));
    }
    return out;
  }

private:
  using steady = std::chrono::steady_clock;

  /// How long the feed stays silent before it asks the server for a pong.
  static constexpr std::chrono::seconds ping_after{1};

  void heard() {
    last_heard_ = steady::now();
    ping_sent_.reset();
  }

  /// A quiet channel pushes nothing, and neither does a server that froze
  /// (a stopped process, a paused VM: the kernel still answers TCP), while
  /// the stores follow a failover elsewhere. After ping_after of silence
  /// the feed sends PING; no answer within the command timeout and the
  /// connection is dropped: the feed restarts, its watchers resync.
  caf::error check_alive() {
    auto now = steady::now();
    if (ping_sent_) {
      auto limit = conn_.options().command_timeout;
      if (now - *ping_sent_ < limit)
        return {};
      ping_sent_.reset();
      return conn_.abandon(describe() + ": no answer to PING within "
                           + std::to_string(limit.count()) + " ms");
    }
    if (now - last_heard_ < ping_after)
      return {};
    if (auto err = conn_.push_ping())
      return err;
    ping_sent_ = now;
    return {};
  }

  std::string channel_;
  redis_connection conn_;
  bool warned_ = false;
  steady::time_point last_heard_ = steady::now();
  std::optional<steady::time_point> ping_sent_;
};

} // namespace

bool parse_redis_change(std::string_view message, change_event& out) {
  if (message.empty())
    return false;
  if (message[0] == 'd') {
    out.cause = static_cast<uint8_t>(change_cause::del);
    out.key.assign(message.substr(1));
    return !out.key.empty();
  }
  if (message[0] != 'p')
    return false;
  size_t pos = 1;
  size_t key_size = 0;
  uint64_t expires = 0; // never negative
  if (!read_decimal_field(message, pos, out.version)
      || !read_decimal_field(message, pos, expires)
      || !read_decimal_field(message, pos, key_size) || key_size == 0
      || key_size > message.size() - pos)
    return false;
  out.cause = static_cast<uint8_t>(change_cause::put);
  out.expires_at_ms = static_cast<unix_ms>(expires);
  out.key.assign(message.substr(pos, key_size));
  out.value.assign(message.substr(pos + key_size));
  return true;
}

std::unique_ptr<change_feed> make_redis_change_feed(redis_options opts) {
  return std::make_unique<redis_change_feed>(std::move(opts));
}

} // namespace solver_state
