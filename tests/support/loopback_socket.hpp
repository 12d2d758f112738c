#pragma once

// The socket chores of the tests' own small servers (fake_http_server,
// dynamodb_proxy): a loopback listener, waiting for bytes while the server
// lives, reading more of a request, sending a whole reply.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <string>

#include <catch2/catch.hpp>

namespace solver_state::testing {

/// A listening socket on 127.0.0.1 and the port the kernel chose.
inline int listen_on_loopback(int backlog, uint16_t& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, backlog) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

/// Waits until `fd` has something to read; false once `stop` is set.
inline bool wait_readable(int fd, const std::atomic<bool>& stop) {
  while (!stop) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0)
      return true;
  }
  return false;
}

/// Appends what `fd` has next to `in`; false when the peer closed or `stop`.
inline bool read_more(int fd, std::string& in, const std::atomic<bool>& stop) {
  char buf[65536];
  if (!wait_readable(fd, stop))
    return false;
  auto n = ::read(fd, buf, sizeof buf);
  if (n <= 0)
    return false;
  in.append(buf, static_cast<size_t>(n));
  return true;
}

/// Sends all of `bytes`; false when the peer is gone.
inline bool send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n =
      ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

inline std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return s;
}

} // namespace solver_state::testing
