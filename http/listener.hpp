#pragma once

// Accepts connections and starts a session for each, every socket on a strand
// of its own. At http.max_connections it closes the connection idle longest
// (waiting for the first byte of a request) to admit the new one; with none
// idle, or out of descriptors, it answers new ones 503 and closes them at
// once.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <caf/expected.hpp>

#include "http/connection_context.hpp"
#include "http/session.hpp"

namespace solver_state::gateway {

/// The endpoint of http.listen ("host:port", port 0 for any; a host name
/// is resolved), or why it has none.
caf::expected<boost::asio::ip::tcp::endpoint>
endpoint_of(const std::string& listen);

/// The header lines every answer carries (Server, Date, a generated
/// X-Request-Id), each ending in CRLF: for the answers written by hand
/// before any request is read (a connection past http.max_connections, the
/// port's answers while the store opens).
std::string common_header_lines();

/// The whole answer (503, `Retry-After: 1`, `Connection: close`) to a
/// connection closed or refused before its request was read, `message`
/// saying why: the client learns that nothing it sent was applied.
std::string refused_connection_answer(const std::string& message);

class listener : public std::enable_shared_from_this<listener> {
public:
  listener(boost::asio::io_context& ioc, connection_context& ctx);

  /// Binds and listens; the error if that fails.
  boost::beast::error_code open(const boost::asio::ip::tcp::endpoint& ep);

  /// Takes over `fd`, a socket already listening on `ep`'s protocol (the
  /// recovery gate's): connections waiting on it are served too.
  boost::beast::error_code adopt(const boost::asio::ip::tcp::endpoint& ep,
                                 int fd);

  uint16_t port() const;

  void run();

  /// Thread-safe: stops accepting.
  void close();

  ~listener();

private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, connection_socket socket);
  /// At http.max_connections: evicts the connection idle longest so a new
  /// one can take its slot; false when every connection is busy.
  bool make_room();
  /// Out of descriptors (EMFILE, ENFILE): frees the reserved one to take
  /// the oldest waiting connection, answers it 503 and closes it (nginx and
  /// libuv do the same), so that clients are told rather than left in the
  /// backlog. False when no connection was waiting or it could not be taken.
  bool shed_waiting_connection();
  /// Accepts again after `pause`.
  void accept_after(std::chrono::milliseconds pause);
  /// After a refusal, eviction or accept error: warns at once when the
  /// last warning is refusal_log_interval old, else arms a timer that warns
  /// when it is, so a burst is told within the interval, not at the next
  /// refusal (maybe hours later).
  void log_refusals();
  /// Warns with the counts since the last warning (none: nothing) and
  /// resets them.
  void write_refusal_log();

  boost::asio::io_context& ioc_;
  connection_context& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  /// Pause after an accept error (EMFILE...) instead of spinning.
  boost::asio::steady_timer backoff_;
  /// Writes the counts a burst left untold (log_refusals).
  boost::asio::steady_timer log_timer_;
  bool log_timer_armed_ = false;
  /// A descriptor kept open to be closed when the process runs out.
  int reserve_fd_ = -1;
  // Touched only on the acceptor's strand.
  size_t refused_ = 0;
  size_t evicted_ = 0;
  size_t shed_ = 0;
  size_t accept_errors_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_;
};

} // namespace solver_state::gateway
