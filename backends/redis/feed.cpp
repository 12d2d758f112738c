// The Redis change feed: SUBSCRIBE, then Pub/Sub messages parsed into
// changes.

#include "backends/redis/feed.hpp"

#include <charconv>

#include <hiredis/hiredis.h>

#include <spdlog/spdlog.h>

#include "backends/redis/connection.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// Reads the decimal number up to the next ':' of `text` from `pos`.
template <class Int>
bool number_at(std::string_view text, size_t& pos, Int& out) {
  auto colon = text.find(':', pos);
  if (colon == std::string_view::npos)
    return false;
  auto [end, ec] = std::from_chars(text.data() + pos, text.data() + colon, out);
  if (ec != std::errc{} || end != text.data() + colon)
    return false;
  pos = colon + 1;
  return true;
}

std::string_view text_of(const redisReply* r) {
  return {r->str, r->len};
}

class redis_change_feed final : public change_feed {
public:
  explicit redis_change_feed(redis_options opts)
    : channel_(opts.change_channel()), conn_(std::move(opts)) {
  }

  std::string describe() const override {
    return conn_.options().server_name() + " channel \"" + channel_ + "\"";
  }

  caf::error start() override {
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
        return {};
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

private:
  std::string channel_;
  redis_connection conn_;
  bool warned_ = false;
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
  if (!number_at(message, pos, out.version)
      || !number_at(message, pos, out.expires_at_ms)
      || !number_at(message, pos, key_size) || key_size == 0
      || key_size > message.size() - pos)
    return false;
  out.cause = static_cast<uint8_t>(change_cause::put);
  out.key.assign(message.substr(pos, key_size));
  out.value.assign(message.substr(pos + key_size));
  return true;
}

std::unique_ptr<change_feed> make_redis_change_feed(redis_options opts) {
  return std::make_unique<redis_change_feed>(std::move(opts));
}

} // namespace solver_state
