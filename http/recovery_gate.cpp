// The recovery gate: one thread, one io_context, a connection at most
// `max_connections` at a time, each answered once and closed. A connection
// accepted while all are taken closes the oldest one still reading its
// request, unanswered: idle connections cannot keep a liveness probe
// waiting in the backlog (a probe's request comes at once). When none is
// reading (all are answering), accepting waits for one to close.

#include "http/recovery_gate.hpp"

#include <unistd.h>

#include <cstdio>
#include <list>
#include <memory>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "http/json_codec.hpp"
#include "http/listener.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// Connections answered at once; more wait in the backlog.
constexpr size_t max_connections = 64;

/// A request head larger than this, or slower than read_timeout, is
/// answered without being read to its end.
constexpr size_t max_head_bytes = 8192;
constexpr auto read_timeout = std::chrono::seconds{2};

std::string answer(const std::string& head, double seconds) {
  auto line_end = head.find("\r\n");
  auto request_line = head.substr(0, line_end);
  bool by_head = request_line.rfind("HEAD ", 0) == 0;
  auto is = [&](const char* target) {
    auto want = std::string{by_head ? "HEAD " : "GET "} + target;
    return request_line.rfind(want + " ", 0) == 0
           || request_line.rfind(want + "?", 0) == 0;
  };
  unsigned status = 503;
  std::string body;
  // A probe by HEAD is a probe too (a liveness check must not fail for
  // as long as a large store opens).
  if (is("/healthz")) {
    status = 200;
    body = gateway::status_body("ok");
  } else {
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", seconds);
    body = gateway::error_body(state_errc::backend_unavailable,
                               std::string{"recovering: the store is "
                                           "opening ("}
                                 + took + " s so far); retry shortly");
  }
  std::string out = status == 200 ? "HTTP/1.1 200 OK\r\n"
                                  : "HTTP/1.1 503 Service Unavailable\r\n"
                                    "Retry-After: 1\r\n";
  out += gateway::common_header_lines();
  out += "Content-Type: application/json\r\nConnection: close\r\n"
         "Content-Length: "
         + std::to_string(body.size()) + "\r\n\r\n";
  if (!by_head) // HEAD: the headers GET would have, no body
    out += body;
  return out;
}

} // namespace

struct recovery_gate::impl {
  /// One connection being answered.
  struct connection {
    connection(tcp::socket s, net::io_context& ioc)
      : socket(std::move(s)), timer(ioc) {}
    tcp::socket socket;
    net::streambuf buffer{max_head_bytes};
    net::steady_timer timer;
    std::string reply;
    /// Closed to make room: nothing is answered.
    bool evicted = false;
    /// Its place among the connections still reading, oldest first.
    std::list<std::weak_ptr<connection>>::iterator reading_at;
  };

  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  /// After a failed accept (out of descriptors): a pause, not a busy loop.
  net::steady_timer accept_pause{ioc};
  std::thread thread;
  std::chrono::steady_clock::time_point started
    = std::chrono::steady_clock::now();
  size_t open = 0; // connections being answered (io thread only)
  /// Those still reading their request, oldest first (io thread only).
  std::list<std::weak_ptr<connection>> reading;
  bool accepting = false;
  bool running = false;

  /// Closes the connection that has been reading longest, unanswered;
  /// false when every connection has its request (they end by themselves).
  bool evict_oldest_reader() {
    while (!reading.empty()) {
      auto oldest = reading.front().lock();
      reading.pop_front();
      if (!oldest)
        continue;
      oldest->evicted = true;
      oldest->reading_at = reading.end();
      boost::system::error_code ignored;
      oldest->socket.cancel(ignored); // its read ends: see serve()
      return true;
    }
    return false;
  }

  void accept() {
    // Full, and no reader to make room: every connection is answering.
    if (open >= max_connections && reading.empty()) {
      accepting = false; // resumed by the next connection that closes
      return;
    }
    accepting = true;
    acceptor.async_accept([this](boost::system::error_code ec,
                                 tcp::socket socket) {
      accepting = false;
      if (ec == net::error::operation_aborted || !acceptor.is_open())
        return;
      if (ec) {
        // EMFILE and the like fail again at once: try again in a moment,
        // as the gateway's listener does.
        accepting = true;
        accept_pause.expires_after(std::chrono::milliseconds{50});
        accept_pause.async_wait([this](boost::system::error_code wait_ec) {
          accepting = false;
          if (!wait_ec && acceptor.is_open())
            accept();
        });
        return;
      }
      // Room for it: the oldest reader goes (its slot frees once its
      // read's handler has run; until then one more is open).
      if (open >= max_connections)
        evict_oldest_reader();
      serve(std::move(socket));
      accept();
    });
  }

  void serve(tcp::socket socket) {
    ++open;
    auto c = std::make_shared<connection>(std::move(socket), ioc);
    c->reading_at = reading.insert(reading.end(), c);
    c->timer.expires_after(read_timeout);
    c->timer.async_wait([c](boost::system::error_code ec) {
      // Queued before the read's handler closed the socket, perhaps.
      boost::system::error_code ignored;
      if (!ec && c->socket.is_open())
        c->socket.cancel(ignored);
    });
    net::async_read_until(
      c->socket, c->buffer, "\r\n\r\n",
      [this, c](boost::system::error_code ec, size_t) {
        c->timer.cancel();
        // Displaced before its request came whole: closed unanswered. (One
        // whose request came in the same turn is answered all the same.)
        if (c->evicted && ec)
          return finish(*c);
        if (!c->evicted)
          reading.erase(c->reading_at);
        c->reading_at = reading.end();
        std::string head{net::buffers_begin(c->buffer.data()),
                         net::buffers_end(c->buffer.data())};
        std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                             - started;
        c->reply = answer(head, took.count());
        net::async_write(c->socket, net::buffer(c->reply),
                         [this, c](boost::system::error_code, size_t) {
                           finish(*c);
                         });
      });
  }

  void finish(connection& c) {
    boost::system::error_code ignored;
    c.socket.shutdown(tcp::socket::shutdown_both, ignored);
    c.socket.close(ignored);
    --open;
    if (!accepting && acceptor.is_open())
      accept();
  }
};

recovery_gate::recovery_gate() : impl_(std::make_unique<impl>()) {
}

recovery_gate::~recovery_gate() {
  auto fd = hand_over();
  if (fd >= 0)
    ::close(fd);
}

caf::error recovery_gate::start(const std::string& listen) {
  auto ep = gateway::endpoint_of(listen);
  if (!ep)
    return std::move(ep.error());
  boost::system::error_code ec;
  auto& a = impl_->acceptor;
  a.open(ep->protocol(), ec);
  if (!ec)
    a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    a.bind(*ep, ec);
  if (!ec)
    a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return make_state_error(state_errc::io_error,
                            "http.listen: cannot listen on " + listen + ": "
                              + ec.message());
  impl_->accept();
  impl_->running = true;
  impl_->thread = std::thread{[this] { impl_->ioc.run(); }};
  spdlog::info("http: answering 503 recovering on port {} while the store "
               "opens",
               a.local_endpoint(ec).port());
  return {};
}

int recovery_gate::hand_over() {
  if (!impl_->running)
    return -1;
  impl_->running = false;
  int fd = -1;
  // On the io thread: the acceptor is only touched there.
  net::post(impl_->ioc, [this, &fd] {
    boost::system::error_code ec;
    impl_->accept_pause.cancel();
    impl_->acceptor.cancel(ec);
    fd = impl_->acceptor.release(ec);
    if (ec)
      fd = -1;
  });
  // The connections being answered finish (each within read_timeout and
  // one write); then run() returns.
  impl_->thread.join();
  return fd;
}

} // namespace solver_state
