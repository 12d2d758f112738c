// Bearer-token authentication for the gateway: case-insensitive "Bearer"
// scheme and a constant-time comparison of the presented token.

#include "http/auth.hpp"

#include <cctype>

namespace solver_state::gateway {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // volatile keeps the compiler from turning the loop into an early exit.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff = diff | (x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() < scheme.size())
    return false;
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i]))
        != scheme[i])
      return false;
  auto presented = authorization.substr(scheme.size());
  while (!presented.empty() && presented.front() == ' ')
    presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ')
    presented.remove_suffix(1);
  return constant_time_equal(presented, token);
}

} // namespace solver_state::gateway
