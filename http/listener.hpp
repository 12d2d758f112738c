#pragma once

// Accepts connections and starts a session for each, every socket on a strand
// of its own; beyond http.max_connections it closes new ones at once.

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include "http/connection_context.hpp"
#include "http/session.hpp"

namespace solver_state::gateway {

class listener : public std::enable_shared_from_this<listener> {
public:
  listener(boost::asio::io_context& ioc, connection_context& ctx);

  /// Binds and listens; the error if that fails.
  boost::beast::error_code open(const boost::asio::ip::tcp::endpoint& ep);

  uint16_t port() const;

  void run();

  /// Thread-safe: stops accepting.
  void close();

private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, connection_socket socket);
  /// Closes a connection over http.max_connections; warns at most once per
  /// refusal_log_interval with the count since the last warning.
  void refuse(connection_socket& socket);

  boost::asio::io_context& ioc_;
  connection_context& ctx_;
  boost::asio::ip::tcp::acceptor acceptor_;
  /// Pause after an accept error (EMFILE...) instead of spinning.
  boost::asio::steady_timer backoff_;
  // Touched only on the acceptor's strand.
  size_t refused_ = 0;
  std::chrono::steady_clock::time_point last_refusal_log_;
};

} // namespace solver_state::gateway
