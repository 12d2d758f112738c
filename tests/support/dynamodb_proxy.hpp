#pragma once

// An HTTP proxy in front of a DynamoDB-compatible server (dynalite) for
// tests of what dynalite never does by itself: each request can wait a
// while first (a network's round trip), or be answered by the proxy with an
// error of the test's choosing (a throttle, a 500) instead of forwarded.
// On a free loopback port; a thread per client connection, each forwarding
// over a kept-alive connection of its own.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "backends/dynamodb/http.hpp"
#include "tests/support/loopback_socket.hpp"

namespace solver_state::testing {

class dynamodb_proxy {
public:
  /// An answer the proxy gives itself.
  struct fault {
    unsigned status = 500;
    std::string body; ///< JSON, e.g. {"__type":"...#ThrottlingException"}
  };

  /// Gets a request's action ("GetItem"), its JSON body and how many of
  /// that action came before it; a fault to answer with, or nullopt to
  /// forward it.
  using fault_fn = std::function<std::optional<fault>(
    const std::string& action, const std::string& body, size_t earlier)>;

  /// DynamoDB's error body of `type` ("ThrottlingException"), with a message.
  static std::string error_body(const std::string& type,
                                const std::string& message) {
    return R"({"__type":"com.amazonaws.dynamodb.v20120810#)" + type
           + R"(","message":")" + message + R"("})";
  }

  dynamodb_proxy(uint16_t upstream_port, std::chrono::milliseconds delay,
                 fault_fn faults = {})
    : upstream_port_(upstream_port), delay_(delay),
      faults_(std::move(faults)) {
    listener_ = listen_on_loopback(64, port_);
    acceptor_ = std::thread{[this] { accept_loop(); }};
  }

  ~dynamodb_proxy() {
    stop_ = true;
    acceptor_.join();
    std::vector<std::thread> connections;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      connections.swap(connections_);
    }
    for (auto& t : connections)
      t.join();
    ::close(listener_);
  }

  dynamodb_proxy(const dynamodb_proxy&) = delete;
  dynamodb_proxy& operator=(const dynamodb_proxy&) = delete;

  /// state.type for `table` through the proxy (plain HTTP).
  std::string url(const std::string& table) const {
    return "dynamodb://127.0.0.1:" + std::to_string(port_) + "/" + table
           + "?region=us-east-1";
  }

  /// Requests of `action` seen so far, answered or not.
  size_t count(const std::string& action) const {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = counts_.find(action);
    return it == counts_.end() ? 0 : it->second;
  }

private:

  void accept_loop() {
    while (wait_readable(listener_, stop_)) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      std::lock_guard<std::mutex> guard{mutex_};
      connections_.emplace_back([this, fd] {
        serve(fd);
        ::close(fd);
      });
    }
  }

  void serve(int fd) {
    dynamodb::http_connection upstream{"127.0.0.1", upstream_port_,
                                       std::chrono::seconds{2},
                                       std::chrono::seconds{30}};
    std::string in;
    for (;;) {
      dynamodb::header_list headers;
      std::string body;
      if (!read_request(fd, in, headers, body))
        return;
      std::string action;
      for (auto& [name, value] : headers)
        if (name == "x-amz-target")
          action = value.substr(value.find('.') + 1);
      size_t earlier = 0;
      {
        std::lock_guard<std::mutex> guard{mutex_};
        earlier = counts_[action]++;
      }
      if (delay_.count() > 0)
        std::this_thread::sleep_for(delay_);
      std::optional<fault> injected;
      if (faults_)
        injected = faults_(action, body, earlier);
      unsigned status = 0;
      std::string reply;
      if (injected) {
        status = injected->status;
        reply = std::move(injected->body);
      } else {
        auto forwarded = upstream.post(headers, std::move(body));
        if (!forwarded)
          return; // the client sees the connection drop
        status = forwarded->status;
        reply = std::move(forwarded->body);
      }
      auto bytes = "HTTP/1.1 " + std::to_string(status)
                   + " X\r\nContent-Type: application/x-amz-json-1.0\r\n"
                     "Content-Length: "
                   + std::to_string(reply.size()) + "\r\n\r\n" + reply;
      if (!send_all(fd, bytes))
        return;
    }
  }


  /// The next request's headers (names in lower case, but for those a
  /// forward must not copy) and body; false when the client closed.
  bool read_request(int fd, std::string& in, dynamodb::header_list& headers,
                    std::string& body) {
    size_t head_end;
    while ((head_end = in.find("\r\n\r\n")) == std::string::npos)
      if (!read_more(fd, in, stop_))
        return false;
    size_t length = 0;
    size_t line = in.find("\r\n") + 2; // after the request line
    while (line < head_end) {
      auto end = in.find("\r\n", line);
      auto colon = in.find(':', line);
      if (colon < end) {
        auto name = lowercase(in.substr(line, colon - line));
        auto value = in.substr(colon + 1, end - colon - 1);
        value.erase(0, value.find_first_not_of(' '));
        if (name == "content-length")
          length = std::strtoul(value.c_str(), nullptr, 10);
        else if (name != "connection")
          headers.emplace_back(name, value);
      }
      line = end + 2;
    }
    head_end += 4;
    while (in.size() < head_end + length)
      if (!read_more(fd, in, stop_))
        return false;
    body = in.substr(head_end, length);
    in.erase(0, head_end + length);
    return true;
  }



  uint16_t upstream_port_;
  std::chrono::milliseconds delay_;
  fault_fn faults_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::map<std::string, size_t> counts_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

} // namespace solver_state::testing
