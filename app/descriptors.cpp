// The file descriptor limit (see descriptors.hpp).

#include "app/descriptors.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace solver_state {

descriptor_limit raise_descriptor_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return {};
  descriptor_limit out{lim.rlim_cur, lim.rlim_cur};
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised{lim.rlim_max, lim.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
      out.now = lim.rlim_max;
  }
  return out;
}

size_t connections_within(uint64_t nofile) {
  uint64_t reserved = 64 + nofile / 8;
  return static_cast<size_t>(nofile > reserved ? nofile - reserved : 1);
}

} // namespace solver_state
