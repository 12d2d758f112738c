// The PostgreSQL change feed: LISTEN, then the trigger's payloads parsed
// into changes; values too large for a payload read back by version.

#include "backends/postgres/feed.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "backends/postgres/connection.hpp"
#include "messages/errors.hpp"
#include "util/decimal_field.hpp"
#include "util/base64.hpp"
#include "util/hex.hpp"

namespace solver_state {

namespace {

bool unhex(std::string_view hex, std::string& out) {
  if (hex.empty() || hex.size() % 2 != 0)
    return false;
  out.resize(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    auto hi = hex_digit_value(hex[2 * i]);
    auto lo = hex_digit_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return true;
}

/// PostgreSQL's base64 breaks lines every 76 characters.
bool unbase64(std::string_view text, std::string& out) {
  std::string joined;
  joined.reserve(text.size());
  for (char c : text)
    if (c != '\n')
      joined.push_back(c);
  auto bytes = base64_decode(joined);
  if (!bytes)
    return false;
  out = std::move(*bytes);
  return true;
}

class postgres_change_feed final : public change_feed {
public:
  explicit postgres_change_feed(postgres_options opts)
    : table_(opts.table), conn_(std::move(opts), &listen) {
  }

  std::string describe() const override {
    return "postgresql " + conn_.options().server_name() + " channel "
           + table_;
  }

  caf::error start() override {
    heard();
    return conn_.ensure_connected();
  }

  caf::error next(std::vector<change_event>& out, size_t max,
                  std::chrono::milliseconds wait) override {
    payloads_.clear();
    if (auto err = conn_.notifications(payloads_, max, wait))
      return err;
    if (payloads_.empty())
      return check_alive();
    heard();
    for (auto& payload : payloads_) {
      postgres_change change;
      if (!parse_postgres_change(payload, change)) {
        if (!warned_) {
          warned_ = true;
          spdlog::warn("{}: a notification that is not a change was skipped "
                       "(another program notifies on this channel?)",
                       describe());
        }
        continue;
      }
      if (change.value_left_out) {
        auto fetched = fetch_value(change.event);
        if (!fetched)
          return std::move(fetched.error());
        if (!*fetched)
          continue; // that version is gone: its successor follows
      }
      out.push_back(std::move(change.event));
    }
    return {};
  }

  bool reports_expiries() const override { return true; }

private:
  using steady = std::chrono::steady_clock;

  /// How long the feed stays silent before it asks the server for an
  /// answer.
  static constexpr std::chrono::seconds probe_after{1};

  void heard() { last_heard_ = steady::now(); }

  /// A quiet table notifies nothing, and neither does a server that froze
  /// (a stopped process, a paused VM: the kernel still answers TCP) while
  /// the stores fail over to another host of the URL. After probe_after of
  /// silence the feed runs SELECT 1, waiting up to the command timeout:
  /// no answer and the connection is dropped, so the feed restarts and its
  /// watchers resync. Notifications that arrive meanwhile are kept by
  /// libpq for the next read.
  caf::error check_alive() {
    if (steady::now() - last_heard_ < probe_after)
      return {};
    auto answer = conn_.exec("SELECT 1");
    if (!answer)
      return make_state_error(code_of(answer.error()),
                              describe() + ": no answer to SELECT 1 after "
                                + std::to_string(probe_after.count())
                                + " s of silence: "
                                + message_of(answer.error()));
    heard();
    return {};
  }

  /// Every new session: LISTEN, and the statement that reads a value back.
  static caf::error listen(postgres_connection& conn) {
    const auto& t = conn.options().table;
    if (auto r = conn.exec("LISTEN " + t); !r)
      return std::move(r.error());
    return conn.prepare("feed_value", "SELECT value FROM " + t
                                        + " WHERE key = $1 AND version = $2");
  }

  /// Reads the value of `ev`'s version; false when that version is gone.
  caf::expected<bool> fetch_value(change_event& ev) {
    pg_params params;
    params.bytes(ev.key).int8(static_cast<int64_t>(ev.version));
    auto rows = conn_.run("feed_value", params);
    if (!rows)
      return std::move(rows.error());
    if (rows->size() == 0)
      return false;
    ev.value.assign(rows->bytes(0, 0));
    return true;
  }

  std::string table_;
  postgres_connection conn_;
  std::vector<std::string> payloads_;
  bool warned_ = false;
  steady::time_point last_heard_ = steady::now();
};

} // namespace

bool parse_postgres_change(std::string_view payload, postgres_change& out) {
  if (payload.empty())
    return false;
  auto& ev = out.event;
  size_t pos = 1;
  switch (payload[0]) {
    case 'd':
    case 'x': {
      version_t old_version = 0;
      if (!read_decimal_field(payload, pos, old_version))
        return false;
      ev.cause = static_cast<uint8_t>(payload[0] == 'd' ? change_cause::del
                                                        : change_cause::expire);
      return unhex(payload.substr(pos), ev.key);
    }
    case 'p': {
      uint64_t expires = 0; // never negative
      if (!read_decimal_field(payload, pos, ev.version)
          || !read_decimal_field(payload, pos, expires))
        return false;
      auto colon = payload.find(':', pos);
      if (colon == std::string_view::npos
          || !unhex(payload.substr(pos, colon - pos), ev.key))
        return false;
      ev.cause = static_cast<uint8_t>(change_cause::put);
      ev.expires_at_ms = static_cast<unix_ms>(expires);
      auto value = payload.substr(colon + 1);
      out.value_left_out = value == "?";
      return out.value_left_out || unbase64(value, ev.value);
    }
    default:
      return false;
  }
}

std::unique_ptr<change_feed> make_postgres_change_feed(postgres_options opts) {
  opts.application_name = "solver-state feed";
  return std::make_unique<postgres_change_feed>(std::move(opts));
}

} // namespace solver_state
