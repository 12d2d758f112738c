// The bounded TCP connect of port_probe.hpp: a non-blocking connect() and a
// poll() with the time left, for each address the name resolves to.

#include "actors/cluster/port_probe.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

using clock_type = std::chrono::steady_clock;

/// A socket closed when it goes out of scope.
struct socket_guard {
  int fd;
  ~socket_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// 0 when a connection to `addr` opened before `deadline`; else the errno
/// (ETIMEDOUT when the time ran out).
int connect_before(const addrinfo& addr, clock_type::time_point deadline) {
  socket_guard s{::socket(addr.ai_family,
                          addr.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          addr.ai_protocol)};
  if (s.fd < 0)
    return errno;
  if (::connect(s.fd, addr.ai_addr, addr.ai_addrlen) == 0)
    return 0;
  if (errno != EINPROGRESS)
    return errno;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0)
      return ETIMEDOUT;
    pollfd p{s.fd, POLLOUT, 0};
    auto n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno;
    if (n == 0)
      return ETIMEDOUT;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      return errno;
    return err;
  }
}

} // namespace

caf::error probe_port(const std::string& host, uint16_t port,
                      std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
      rc != 0)
    return make_state_error(state_errc::backend_unavailable,
                            "cannot resolve " + host + ": "
                              + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addrs{found,
                                                             ::freeaddrinfo};
  int last = ETIMEDOUT;
  for (auto* a = addrs.get(); a != nullptr; a = a->ai_next) {
    last = connect_before(*a, deadline);
    if (last == 0)
      return {};
    if (last == ETIMEDOUT)
      break; // the time is spent: other addresses would get none of it
  }
  if (last == ETIMEDOUT)
    return make_state_error(state_errc::backend_unavailable,
                            "no TCP answer from " + where + " within "
                              + std::to_string(timeout.count())
                              + "ms (machine down, or packets dropped)");
  return make_state_error(state_errc::backend_unavailable,
                          "cannot connect to " + where + ": "
                            + std::strerror(last));
}

} // namespace solver_state
