#pragma once

// A fake HTTP/1.1 server on a free loopback port, for the client's tests of
// answers the real service never gives (a broken server, a proxy that
// mangles, a connection that goes silent): each request is answered with
// the bytes the test chooses, exactly as they go on the wire. Plain
// sockets, one thread, one connection at a time (the client keeps one).

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

#include "tests/support/loopback_socket.hpp"

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
    listener_ = listen_on_loopback(8, port_);
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

  void serve() {
    while (wait_readable(listener_, stop_)) {
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
      if (!send_all(fd, r.bytes))
        return;
      if (r.hang) {
        while (wait_readable(fd, stop_)) {
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


  /// The next request (head and Content-Length body) from `fd`, with what
  /// came after it left in `in`; "" when the client closed. Answers an
  /// "Expect: 100-continue" as the service does.
  std::string read_request(int fd, std::string& in) {
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(fd, in, stop_))
        return {};
    head_end += 4;
    auto head = lowercase(in.substr(0, head_end));
    size_t length = 0;
    if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos)
      length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
    if (head.find("\r\nexpect: 100-continue") != std::string::npos
        && in.size() == head_end
        && !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n"))
      return {};
    while (in.size() < head_end + length)
      if (!read_more(fd, in, stop_))
        return {};
    auto request = in.substr(0, head_end + length);
    in.erase(0, head_end + length);
    return request;
  }



  answer_fn answer_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> requests_{0};
  std::thread worker_;
};

} // namespace solver_state::testing
