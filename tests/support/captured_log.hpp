#pragma once

// The default spdlog logger's lines, captured into a string for one test
// (restored when it ends): for tests of what an operator reads.

#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace solver_state::testing {

/// Sends the default logger's lines into a string for one test.
class captured_log {
public:
  captured_log() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    sink->set_pattern("%l %v");
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  }
  ~captured_log() { spdlog::set_default_logger(previous_); }

  std::string text() const { return out_.str(); }

  size_t count(const std::string& needle) const {
    auto s = text();
    size_t n = 0;
    for (auto at = s.find(needle); at != std::string::npos;
         at = s.find(needle, at + 1))
      ++n;
    return n;
  }

private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};


} // namespace solver_state::testing
