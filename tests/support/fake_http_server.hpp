#pragma once

// A fake HTTP/1.1 server on a free loopback port, for the client's tests of
// answers the real service never gives (a broken server, a proxy that
// mangles, a connection that goes silent): each request is answered with
// the bytes the test chooses, exactly as they go on the wire. Plain
// sockets, one thread, one connection at a time (the client keeps one).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>

namespace solver_state::testing {

class fake_http_server {
public:
  struct reply {
    /// Status line, headers and body, as sent.
    std::string bytes;
    /// Close the connection once sent (the body ends there).
    bool close = false;
    /// Send nothing more and keep the connection open until the server is
    /// destroyed: a peer gone silent.
    bool hang = false;
  };
  /// Gets the request (head and body) and how many came before it.
  using answer_fn = std::function<reply(const std::string& request,
                                        size_t earlier)>;

  explicit fake_http_server(answer_fn answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr),
                   sizeof addr) == 0);
    REQUIRE(::listen(listener_, 8) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    worker_ = std::thread{[this] { serve(); }};
  }

  ~fake_http_server() {
    stop_ = true;
    worker_.join();
    ::close(listener_);
  }

  fake_http_server(const fake_http_server&) = delete;
  fake_http_server& operator=(const fake_http_server&) = delete;

  uint16_t port() const { return port_; }

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_);
  }

  /// Requests answered so far.
  size_t requests() const { return requests_; }

  /// A whole reply of `status` with `body` and its Content-Length.
  static std::string answer(const std::string& status,
                            const std::string& body,
                            const std::string& type = "application/json") {
    return "HTTP/1.1 " + status + "\r\nContent-Type: " + type
           + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n"
           + body;
  }

private:
  /// Waits (while the server lives) until `fd` has something to read.
  bool readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0)
        return true;
    }
    return false;
  }

  void serve() {
    while (readable(listener_)) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      serve_connection(fd);
      ::close(fd);
    }
  }

  void serve_connection(int fd) {
    std::string in;
    for (;;) {
      auto request = read_request(fd, in);
      if (request.empty())
        return;
      auto r = answer_(request, requests_++);
      if (!send_bytes(fd, r.bytes))
        return;
      if (r.hang) {
        while (readable(fd)) {
          char buf[4096];
          if (::read(fd, buf, sizeof buf) <= 0)
            return;
        }
        return;
      }
      if (r.close)
        return;
    }
  }

  static bool send_bytes(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent,
                      MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  /// The next request (head and Content-Length body) from `fd`, with what
  /// came after it left in `in`; "" when the client closed. Answers an
  /// "Expect: 100-continue" as the service does.
  std::string read_request(int fd, std::string& in) {
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(fd, in))
        return {};
    head_end += 4;
    auto head = lower(in.substr(0, head_end));
    size_t length = 0;
    if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
      length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
    if (head.find("\r\nexpect: 100-continue") != std::string::npos
        && in.size() == head_end
        && !send_bytes(fd, "HTTP/1.1 100 Continue\r\n\r\n"))
      return {};
    while (in.size() < head_end + length)
      if (!read_more(fd, in))
        return {};
    auto request = in.substr(0, head_end + length);
    in.erase(0, head_end + length);
    return request;
  }

  bool read_more(int fd, std::string& in) {
    char buf[65536];
    if (!readable(fd))
      return false;
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      return false;
    in.append(buf, static_cast<size_t>(n));
    return true;
  }

  static std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
      return static_cast<char>(std::tolower(c));
    });
    return s;
  }

  answer_fn answer_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> requests_{0};
  std::thread worker_;
};

} // namespace solver_state::testing
