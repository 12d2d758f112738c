#pragma once

// The Date header of every response (RFC 9110 6.6.1), in IMF-fixdate form.
// It changes once a second, so each io thread formats it at most once a
// second and copies the cached text otherwise.

#include <cstddef>
#include <ctime>
#include <string>
#include <string_view>

namespace solver_state::gateway {

/// "Sun, 06 Nov 1994 08:49:37 GMT" for `t` (seconds since the epoch, UTC).
/// Names of days and months are fixed, never from the locale.
std::string format_http_date(std::time_t t);

/// Formats a second's date once, and answers repeats of that second from
/// the cache. One per thread: no locking.
class http_date_cache {
public:
  /// The date of second `t`; valid until the next call.
  std::string_view at(std::time_t t);

  /// How often it formatted (for tests).
  size_t formats() const { return formats_; }

private:
  std::time_t second_ = -1;
  std::string text_;
  size_t formats_ = 0;
};

/// The date now, from this thread's cache.
std::string_view http_date_now();

} // namespace solver_state::gateway
