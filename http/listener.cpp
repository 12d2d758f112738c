// Accepts TCP connections on http.listen and starts a session for each on
// its own strand. At http.max_connections a new connection takes the place
// of the one idle longest (no request begun); when none is idle, it is
// answered 503 and closed at once, as are those that wait while the process
// is out of descriptors. Other accept errors pause accepting instead of
// spinning.

#include "http/listener.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "http/http_date.hpp"
#include "http/json_codec.hpp"
#include "http/request_id.hpp"
#include "http/session.hpp"
#include "messages/errors.hpp"

namespace solver_state::gateway {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// A flood of refused connections makes one warning per interval, not one
/// line each.
constexpr std::chrono::seconds refusal_log_interval{10};

/// How long accepting pauses after an error it cannot answer.
constexpr std::chrono::milliseconds accept_pause{50};

/// The whole answer to a refused connection, written before the close.
std::string refusal_response() {
  return refused_connection_answer(
    "the server has no room for another connection (http.max_connections "
    "or the descriptor limit); retry later");
}

/// Writes the 503 without waiting (it fits in any socket buffer) and
/// closes: a client that sent its request meanwhile may see a reset instead,
/// which it would have seen anyway.
void answer_refused(int fd) {
  auto text = refusal_response();
  [[maybe_unused]] auto n
    = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

int open_reserve() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

} // namespace

std::string refused_connection_answer(const std::string& message) {
  auto body = error_body(state_errc::backend_unavailable, message);
  return "HTTP/1.1 503 Service Unavailable\r\n" + common_header_lines()
         + "Content-Type: application/json\r\n"
           "Retry-After: 1\r\n"
           "Connection: close\r\n"
           "Content-Length: "
         + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string common_header_lines() {
  std::string out = "Server: solver-state\r\nDate: ";
  out += http_date_now();
  out += "\r\nX-Request-Id: " + generate_request_id() + "\r\n";
  return out;
}

namespace {

bool out_of_descriptors(const beast::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open
         || ec == boost::system::errc::too_many_files_open_in_system;
}

} // namespace

listener::listener(net::io_context& ioc, connection_context& ctx)
  : ioc_(ioc),
    ctx_(ctx),
    acceptor_(net::make_strand(ioc)),
    backoff_(acceptor_.get_executor()),
    log_timer_(acceptor_.get_executor()),
    reserve_fd_(open_reserve()),
    last_refusal_log_(std::chrono::steady_clock::now()
                      - refusal_log_interval) {
}

listener::~listener() {
  if (reserve_fd_ >= 0)
    ::close(reserve_fd_);
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

beast::error_code listener::adopt(const tcp::endpoint& ep, int fd) {
  beast::error_code ec;
  acceptor_.assign(ep.protocol(), fd, ec);
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
    // What the timer would have told.
    self->log_timer_.cancel();
    self->write_refusal_log();
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
  if (out_of_descriptors(ec)) {
    // Asio tries accept before a connection waits, so this also comes
    // back while nobody waits: then pause rather than spin.
    if (!shed_waiting_connection())
      return accept_after(accept_pause);
    log_refusals();
    return do_accept();
  }
  if (ec) {
    ++accept_errors_;
    log_refusals();
    return accept_after(accept_pause);
  }
  if (ctx_.stopping.load(std::memory_order_relaxed)) {
    // Dropped: closed by the socket's destructor.
  } else if (ctx_.registry.size() < ctx_.limits.max_connections
             || make_room()) {
    // Only this strand adds connections, so the count cannot pass the
    // limit between the check and session::run().
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<session>(std::move(socket), ctx_)->run();
  } else {
    // Every connection is in the middle of a request or an answer.
    // Accepting and answering, rather than not accepting, keeps the
    // backlog from filling with clients that would wait there unserved.
    answer_refused(socket.release(ec));
    ++refused_;
    ctx_.stats.refused(refusal_reason::max_connections);
    log_refusals();
  }
  do_accept();
}

bool listener::make_room() {
  auto idle = ctx_.registry.evict_oldest_idle();
  if (!idle)
    return false;
  // Out of the count already; its socket closes on its own strand.
  idle->close_evicted();
  ++evicted_;
  ctx_.stats.refused(refusal_reason::evicted_idle);
  log_refusals();
  return true;
}

bool listener::shed_waiting_connection() {
  if (reserve_fd_ < 0 && (reserve_fd_ = open_reserve()) < 0)
    return false;
  ::close(reserve_fd_);
  int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr,
                     SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd >= 0) {
    answer_refused(fd);
    ++shed_;
    ctx_.stats.refused(refusal_reason::descriptors);
  }
  // Another thread may take the freed descriptor first: then the next
  // shedding tries to reserve one again.
  reserve_fd_ = open_reserve();
  return fd >= 0;
}

void listener::accept_after(std::chrono::milliseconds pause) {
  backoff_.expires_after(pause);
  backoff_.async_wait([self = shared_from_this()](beast::error_code e) {
    if (!e)
      self->do_accept();
  });
}

void listener::log_refusals() {
  auto next = last_refusal_log_ + refusal_log_interval;
  if (std::chrono::steady_clock::now() >= next)
    return write_refusal_log();
  if (log_timer_armed_)
    return;
  log_timer_armed_ = true;
  log_timer_.expires_at(next);
  log_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    self->log_timer_armed_ = false;
    if (!ec)
      self->write_refusal_log();
  });
}

void listener::write_refusal_log() {
  if (refused_ == 0 && evicted_ == 0 && shed_ == 0 && accept_errors_ == 0)
    return;
  if (refused_ > 0)
    spdlog::warn("http: answered {} connection(s) 503: http.max_connections={} "
                 "connections are open",
                 refused_, ctx_.limits.max_connections);
  if (evicted_ > 0)
    spdlog::warn("http: closed {} idle connection(s) (no request begun) to "
                 "admit new ones: http.max_connections={} connections are "
                 "open",
                 evicted_, ctx_.limits.max_connections);
  if (shed_ > 0)
    spdlog::warn("http: answered {} connection(s) 503: the process is out of "
                 "file descriptors (RLIMIT_NOFILE); {} connections are open",
                 shed_, ctx_.registry.size());
  if (accept_errors_ > 0)
    spdlog::error("http: accept failed {} time(s) in the last {} s, pausing "
                  "{} ms after each", accept_errors_,
                  refusal_log_interval.count(), accept_pause.count());
  refused_ = evicted_ = shed_ = accept_errors_ = 0;
  last_refusal_log_ = std::chrono::steady_clock::now();
}

/// The endpoint of http.listen ("host:port"; a name is resolved).
caf::expected<tcp::endpoint> endpoint_of(const std::string& listen) {
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(listen, host, port))
    return make_state_error(state_errc::bad_request,
                            "http.listen: must be host:port, got '" + listen
                              + "'");
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (!ec)
    return tcp::endpoint{addr, port};
  net::io_context ioc;
  tcp::resolver resolver{ioc};
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty())
    return make_state_error(state_errc::io_error,
                            "http.listen: cannot resolve '" + host
                              + "': " + ec.message());
  return results.begin()->endpoint();
}

} // namespace solver_state::gateway
