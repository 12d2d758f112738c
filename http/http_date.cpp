// IMF-fixdate formatting for the Date header, cached per thread per second.

#include "http/http_date.hpp"

#include <chrono>
#include <cstdio>

namespace solver_state::gateway {

std::string format_http_date(std::time_t t) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  auto n = std::snprintf(buf, sizeof(buf),
                         "%s, %02d %s %04d %02d:%02d:%02d GMT",
                         days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string_view http_date_cache::at(std::time_t t) {
  if (t != second_) {
    text_ = format_http_date(t);
    second_ = t;
    ++formats_;
  }
  return text_;
}

std::string_view http_date_now() {
  thread_local http_date_cache cache;
  return cache.at(std::chrono::system_clock::to_time_t(
    std::chrono::system_clock::now()));
}

} // namespace solver_state::gateway
