#pragma once

// Test support for the HTTP gateway: the real build/solver-state binary on a
// free loopback port in a temp dir, a small HTTP/1.1 client (Boost.Beast,
// keep-alive), and raw TCP for the malformed-input tests.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace solver_state::testing {

/// Runs build/solver-state with a YAML config of the test's choosing,
/// listening on 127.0.0.1:0; the port is read from its start-up log line.
class service_process {
public:
  /// `yaml` is the whole config file; `env` adds environment variables.
  explicit service_process(
    const std::string& yaml = "",
    const std::vector<std::pair<std::string, std::string>>& env = {});
  ~service_process();

  service_process(const service_process&) = delete;
  service_process& operator=(const service_process&) = delete;

  uint16_t port() const { return port_; }

  int pid() const { return pid_; }

  /// True while the process has not exited.
  bool running();

  /// Sends `sig`, waits for the exit and returns the exit code (128+signal
  /// when killed by one, -1 if it did not exit within `wait`).
  int stop(int sig, std::chrono::milliseconds wait = std::chrono::seconds{20});

  /// Sends `sig` and returns at once (SIGHUP, SIGSTOP, ...).
  void signal(int sig);

  /// The config file the process was started with (tests may rewrite it).
  std::string config_path() const { return dir_ + "/config.yaml"; }

  /// Everything the process logged so far.
  std::string log() const;

private:
  std::string dir_;
  int pid_ = -1;
  int exit_code_ = -1;
  uint16_t port_ = 0;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  unsigned status = 0;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  bool keep_alive = false;

  /// The header's value, or "" when absent.
  std::string header(const std::string& lower_name) const;
};

/// One keep-alive connection; reconnects transparently when the server
/// closed it (connects() counts how often it connected).
class http_client {
public:
  explicit http_client(uint16_t port);
  ~http_client();

  http_response request(const std::string& method, const std::string& target,
                        const std::string& body = "",
                        const header_list& headers = {});

  http_response get(const std::string& target, const header_list& h = {}) {
    return request("GET", target, "", h);
  }
  http_response put(const std::string& target, const std::string& body,
                    const header_list& h = {}) {
    return request("PUT", target, body, h);
  }
  http_response del(const std::string& target, const header_list& h = {}) {
    return request("DELETE", target, "", h);
  }

  size_t connects() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The status and headers of a streamed answer, and how its body ended.
struct streamed_response {
  unsigned status = 0;
  /// Lower-case names; a complete chunked body's trailer fields too.
  std::map<std::string, std::string> headers;
  /// The body ended as HTTP says it should (for chunked: the terminating
  /// chunk came); false when the connection ended it early.
  bool complete = false;
  /// Why reading stopped, when it did not complete ("" when it did).
  std::string error;
};

/// GETs `target` on a fresh connection and hands the body to `on_data` as
/// it arrives, piece by piece, without keeping it (for answers larger than
/// memory should hold). `on_data` returns false to stop reading; it may
/// also sleep, to play a slow reader.
streamed_response
stream_get(uint16_t port, const std::string& target,
           const std::function<bool(std::string_view)>& on_data,
           const header_list& headers = {});

/// A socket connected to `port` on loopback (throws when it cannot be).
int connect_loopback(uint16_t port);

/// Writes all of `bytes` to `fd`; false when the peer closed.
bool send_all(int fd, const std::string& bytes);

/// Sends `bytes` on a fresh connection (optionally closing our sending side
/// after), then reads until the server closes or `wait` passes. Returns what
/// the server sent.
std::string raw_exchange(uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds wait,
                         bool shutdown_send = false);

/// A connected raw socket for slow-client tests; closed on destruction.
class raw_socket {
public:
  explicit raw_socket(uint16_t port);
  ~raw_socket();
  /// False when the write failed (the server closed the connection).
  bool send(const std::string& bytes);
  /// Reads until close or `wait`; "" when nothing came.
  std::string receive(std::chrono::milliseconds wait);
  /// True when the server has closed the connection (read returns 0/error).
  bool closed_by_peer(std::chrono::milliseconds wait);

private:
  int fd_ = -1;
};

/// The "code" of an error body {"error":{"code":...}}, or "".
std::string error_code_of(const std::string& body);

/// Runs a command through /bin/sh; returns its exit code and puts its
/// combined output in `output`.
int run_command(const std::string& command, std::string& output);

} // namespace solver_state::testing
