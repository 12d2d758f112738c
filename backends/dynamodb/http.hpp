#pragma once

// A synchronous HTTP/1.1 client over one kept-alive TCP connection, plain or
// TLS. Each DynamoDB store owns one and calls it from its shard's own thread
// (blocking plugins run detached), so blocking here blocks nobody else. Every
// exchange is bounded by a deadline; a refused connection or failed TLS
// handshake is not retried before a backoff delay (50 ms doubling to 2 s), so
// a dead server costs callers an immediate backend_unavailable instead of a
// connect attempt each time. The host name lookup has a deadline of its own
// (resolver.hpp): a DNS server that answers nothing cannot hold the shard.
//
// Over TLS a replacement connection offers the session of the one before it
// (taken once that connection had served a reply, so the handshake was
// verified and, in TLS 1.3, the server's tickets had arrived): the server can
// resume it without a certificate exchange. Sessions are kept per
// http_connection, whose host and port never change, so a session is never
// offered to another server, and none is kept from a failed handshake.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "backends/dynamodb/tls.hpp"

namespace solver_state::dynamodb {

struct http_reply {
  unsigned status = 0;
  std::string body;
};

using header_list = std::vector<std::pair<std::string, std::string>>;

class http_connection {
public:
  /// Speaks TLS when `tls` is set: SNI and certificate check against `host`
  /// (a name or an IP address), the handshake bounded by connect_timeout.
  http_connection(std::string host, uint16_t port,
                  std::chrono::milliseconds connect_timeout,
                  std::chrono::milliseconds request_timeout,
                  tls_context tls = nullptr);
  ~http_connection();

  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// POSTs `body` to `/` with `headers` (Host among them). Any reply, whatever
  /// its status; backend_unavailable when no reply came (refused, reset,
  /// timed out, TLS handshake refused: the message says why). After a failure
  /// past the handshake the outcome of the request is unknown. The exchange
  /// (send and reply) is bounded by request_timeout, or by `timeout` when
  /// that is shorter (a retry within what is left of a call's time).
  caf::expected<http_reply>
  post(const header_list& headers, std::string body,
       std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  /// Drops the connection; the next post() reconnects.
  void close();

  /// Connections opened so far, TLS handshake included (tests check reuse
  /// and reconnection).
  uint64_t connects() const;

  /// Of those, the TLS handshakes that resumed the previous connection's
  /// session (tests check resumption; 0 over plain HTTP).
  uint64_t resumed() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace solver_state::dynamodb
