// The service's log output: the JSON line format and the log file.

#include "app/log_output.hpp"

#include <atomic>
#include <cctype>
#include <ctime>
#include <memory>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

namespace solver_state {

namespace {

std::atomic<log_format> chosen_format{log_format::text};

/// `text` as a JSON string literal, quotes included.
std::string quoted(std::string_view text) {
  return boost::json::serialize(boost::json::string{text});
}

/// RFC 3339 in UTC with milliseconds: "2026-12-01T21:00:00.123Z".
std::string utc_time(std::chrono::system_clock::time_point time) {
  auto since = time.time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  auto millis
    = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs);
  std::time_t t = secs.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ",
                static_cast<int>(millis.count()));
  return buf;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

/// The value after "name=" at `pos`: a "quoted value" (backslash escapes
/// kept as they are) or up to the next space. Advances `pos` past it.
std::string_view value_at(std::string_view msg, size_t& pos) {
  if (pos < msg.size() && msg[pos] == '"') {
    auto start = ++pos;
    while (pos < msg.size() && msg[pos] != '"')
      pos += msg[pos] == '\\' ? 2 : 1;
    auto value = msg.substr(start, std::min(pos, msg.size()) - start);
    ++pos;
    return value;
  }
  auto start = pos;
  while (pos < msg.size() && msg[pos] != ' ')
    ++pos;
  return msg.substr(start, pos - start);
}

/// The "fields" object: every name=value of the message, in order (a
/// repeated name keeps its first value, as JSON readers would).
std::string fields_of(std::string_view msg) {
  std::string out = "{";
  std::string seen = " ";
  size_t pos = 0;
  while (pos < msg.size()) {
    auto eq = msg.find('=', pos);
    if (eq == std::string_view::npos)
      break;
    auto start = eq;
    while (start > pos && is_name_char(msg[start - 1]))
      --start;
    bool at_word_start = start == 0 || msg[start - 1] == ' ';
    pos = eq + 1;
    if (start == eq || !at_word_start)
      continue;
    auto name = msg.substr(start, eq - start);
    auto value = value_at(msg, pos);
    auto marker = " " + std::string{name} + " ";
    if (seen.find(marker) != std::string::npos)
      continue;
    seen += marker.substr(1);
    out += (out.size() > 1 ? "," : "") + quoted(name) + ":" + quoted(value);
  }
  return out + "}";
}

class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    auto line = json_log_line(
      msg.time, msg.level,
      std::string_view{msg.payload.data(), msg.payload.size()});
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

std::unique_ptr<spdlog::formatter> formatter_for(log_format format) {
  if (format == log_format::json)
    return std::make_unique<json_formatter>();
  return std::make_unique<spdlog::pattern_formatter>();
}

} // namespace

std::string json_log_line(std::chrono::system_clock::time_point time,
                          spdlog::level::level_enum level,
                          std::string_view message) {
  auto name = spdlog::level::to_string_view(level);
  std::string out = "{\"time\":\"" + utc_time(time) + "\",\"level\":"
                    + quoted({name.data(), name.size()})
                    + ",\"message\":" + quoted(message)
                    + ",\"fields\":" + fields_of(message) + "}\n";
  return out;
}

void use_log_format(log_format format) {
  chosen_format = format;
  spdlog::default_logger()->set_formatter(formatter_for(format));
}

std::string log_to_file(const std::string& path) {
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
    auto logger = std::make_shared<spdlog::logger>("solver-state", sink);
    logger->set_level(spdlog::get_level());
    logger->set_formatter(formatter_for(chosen_format));
    logger->flush_on(spdlog::level::info);
    spdlog::default_logger()->flush();
    spdlog::set_default_logger(std::move(logger));
    return {};
  } catch (const spdlog::spdlog_ex& e) {
    return e.what();
  }
}

} // namespace solver_state
