#pragma once

// A Server-Sent Events client for tests of GET /v1/watch: connects over
// loopback, reads the stream on a thread of its own as it arrives (Beast's
// read_some: an event is seen when it is sent, not when a buffer fills) and
// parses it into events and comments.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_test_support.hpp"

namespace solver_state::testing {

struct sse_event {
  std::string id;
  std::string event; // "message" when the block names none
  std::string data;
};

class sse_client {
public:
  sse_client(uint16_t port, const std::string& target,
             const header_list& headers = {});
  ~sse_client();

  sse_client(const sse_client&) = delete;
  sse_client& operator=(const sse_client&) = delete;

  /// The status once the header is in (0 if none came within 10 s).
  unsigned status();
  /// A header of the answer (lower-case name); "" if absent.
  std::string header(const std::string& lower_name);

  /// Waits until `done()` holds (checked under the client's lock).
  bool wait_for(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds{10});
  bool wait_events(size_t n,
                   std::chrono::milliseconds limit = std::chrono::seconds{10});
  /// Waits for the first comment line (": watching": subscribed).
  bool wait_subscribed(std::chrono::milliseconds limit
                       = std::chrono::seconds{10});
  /// Waits until the server ended the stream or closed the connection.
  bool wait_ended(std::chrono::milliseconds limit = std::chrono::seconds{10});

  std::vector<sse_event> events();
  /// The last id the stream gave, with an event or without ("" if none).
  std::string last_event_id();
  std::vector<std::string> comments();
  /// The body of an answer that is not a stream (an error).
  std::string body();

private:
  void run(uint16_t port, std::string target, header_list headers);
  void feed(const char* data, size_t n);

  std::mutex mx_;
  std::condition_variable cv_;
  unsigned status_ = 0;
  bool headers_in_ = false;
  bool ended_ = false;
  std::map<std::string, std::string> headers_;
  std::string partial_;
  std::string body_;
  std::vector<sse_event> events_;
  std::string last_id_;
  std::vector<std::string> comments_;
  int fd_ = -1;
  std::thread reader_;
};

} // namespace solver_state::testing
