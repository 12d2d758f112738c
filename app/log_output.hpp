#pragma once

// Where and how the service writes its log: stderr or log.file, as text or
// as one JSON object per line (log.format).

#include <chrono>
#include <string>
#include <string_view>

#include <spdlog/common.h>

#include "config/config.hpp"

namespace solver_state {

/// Sets the line format of the default logger, now and for every logger
/// log_to_file() makes later.
void use_log_format(log_format format);

/// Logs to `path` (appending) from now on, in the format use_log_format()
/// chose; the previous logger, flushed, goes away. Used at start and on
/// SIGHUP, which reopens the file after logrotate moved it. Empty when it
/// worked, else why not.
std::string log_to_file(const std::string& path);

/// One log line as JSON, newline included:
/// {"time":"2026-12-01T21:00:00.123Z","level":"info","message":"...",
///  "fields":{"request_id":"...","status":"200",...}}. `fields` holds every
/// key=value (or key="quoted value") of the message, so log shippers can
/// filter on them; the message is kept whole.
std::string json_log_line(std::chrono::system_clock::time_point time,
                          spdlog::level::level_enum level,
                          std::string_view message);

} // namespace solver_state
