#pragma once

// One synchronous HTTP/1.1 keep-alive connection to the service (Boost.Beast,
// no threads): every command sends its requests through it, one after
// another, so paging and chunked imports reuse one TCP connection.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/failure.hpp"
#include "cli/server_url.hpp"

namespace solver_state::cli {

struct http_reply {
  unsigned status = 0;
  /// Lower-case names.
  std::map<std::string, std::string> headers;
  std::string body;

  /// The header's value, or "" when absent.
  std::string header(const std::string& lower_name) const;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

/// Takes a piece of a streamed body; a failure (the sink could not write it)
/// stops the transfer and is what stream() returns.
using body_sink = std::function<maybe_failure(std::string_view)>;

/// How stream() reads a body that may pause for long (a watch).
struct stream_options {
  /// Bound on each wait for the next piece; zero: the connection's timeout.
  std::chrono::milliseconds idle{0};
  /// Hand over what arrived at once, rather than once a piece is full.
  bool as_it_arrives = false;
  /// Refuse a 200 body whose end the message does not give (neither
  /// Content-Length nor chunked) before any of it reaches the sink: it
  /// ends where the connection does, so one cut short would pass for whole.
  bool framed_only = false;
  header_list headers;
};

class http_connection {
public:
  /// `token` is sent as "Authorization: Bearer" on every request;
  /// `timeout` bounds each exchange (connect, send, answer), and for a
  /// streamed body each wait for the next piece.
  http_connection(server_url url, std::optional<std::string> token,
                  std::chrono::milliseconds timeout);
  ~http_connection();

  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends one request to the URL's base path + `target` ("/v1/state/k")
  /// and reads the whole answer. Any status is a reply; a failure means no
  /// answer came (exit_unavailable). A request with a body asks for
  /// "100 Continue" first, so a refusal on the headers alone (401, 413)
  /// comes back as an answer rather than as a reset connection.
  expected<http_reply> send(std::string_view method, const std::string& target,
                            std::string body = {},
                            const header_list& headers = {});

  /// A GET whose 200 body goes to `sink` piece by piece as it arrives (it is
  /// never held whole); the reply's body stays empty then. Any other status
  /// is read whole into the reply.
  expected<http_reply> stream(const std::string& target, const body_sink& sink,
                              const stream_options& options = {});

  const server_url& url() const {
    return url_;
  }

private:
  struct impl;

  maybe_failure connect();
  void close();
  failure unreachable(const std::string& what, const std::string& why) const;

  server_url url_;
  std::optional<std::string> token_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<impl> impl_;
};

} // namespace solver_state::cli
