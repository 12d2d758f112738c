// Accepts TCP connections on http.listen and starts a session for each on
// its own strand, pausing after accept errors instead of spinning, closing
// connections beyond http.max_connections at once.

#include "http/listener.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <spdlog/spdlog.h>

#include "http/session.hpp"

namespace solver_state::gateway {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// A flood of refused connections makes one warning per interval, not one
/// line each.
constexpr std::chrono::seconds refusal_log_interval{10};

} // namespace

listener::listener(net::io_context& ioc, connection_context& ctx)
  : ioc_(ioc),
    ctx_(ctx),
    acceptor_(net::make_strand(ioc)),
    backoff_(acceptor_.get_executor()),
    last_refusal_log_(std::chrono::steady_clock::now()
                      - refusal_log_interval) {
}

beast::error_code listener::open(const tcp::endpoint& ep) {
  beast::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec)
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor_.bind(ep, ec);
  if (!ec)
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
  return ec;
}

uint16_t listener::port() const {
  beast::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void listener::run() {
  net::dispatch(acceptor_.get_executor(),
                beast::bind_front_handler(&listener::do_accept,
                                          shared_from_this()));
}

void listener::close() {
  net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    self->backoff_.cancel();
    self->acceptor_.close(ec);
  });
}

void listener::do_accept() {
  if (!acceptor_.is_open())
    return;
  acceptor_.async_accept(net::make_strand(ioc_),
                         beast::bind_front_handler(&listener::on_accept,
                                                   shared_from_this()));
}

void listener::on_accept(beast::error_code ec, connection_socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open())
    return;
  if (ec) {
    spdlog::error("http: accept failed: {}", ec.message());
    backoff_.expires_after(std::chrono::milliseconds{50});
    backoff_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e)
        self->do_accept();
    });
    return;
  }
  if (ctx_.stopping.load(std::memory_order_relaxed)) {
    // Dropped: closed by the socket's destructor.
  } else if (ctx_.registry.size() >= ctx_.limits.max_connections) {
    // Only this strand adds connections, so the count cannot pass the
    // limit between this check and session::run(). Accepting and closing,
    // rather than not accepting, keeps the backlog from filling with
    // clients that would wait there unserved.
    refuse(socket);
  } else {
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<session>(std::move(socket), ctx_)->run();
  }
  do_accept();
}

void listener::refuse(connection_socket& socket) {
  beast::error_code ec;
  socket.close(ec);
  ++refused_;
  auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ < refusal_log_interval) {
    spdlog::debug("http: refused a connection: http.max_connections={} "
                  "reached",
                  ctx_.limits.max_connections);
    return;
  }
  spdlog::warn("http: refused {} connection(s): http.max_connections={} "
               "connections are open",
               refused_, ctx_.limits.max_connections);
  refused_ = 0;
  last_refusal_log_ = now;
}

} // namespace solver_state::gateway
