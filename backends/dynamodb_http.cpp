#include "backends/dynamodb_http.hpp"

#include <algorithm>

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds min_backoff{50};
constexpr std::chrono::milliseconds max_backoff{2'000};
/// BatchGetItem of 100 large items can reach 16 MB of base64.
constexpr uint64_t max_reply_bytes = 64ull << 20;

} // namespace

struct http_connection::impl {
  std::string host;
  std::string port;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds request_timeout;
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool connected = false;
  clock_type::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  std::string last_failure;
  uint64_t connects = 0;

  /// Runs the pending operation to completion. Beast's tcp_stream enforces
  /// expires_after only on asynchronous operations, so the synchronous API
  /// of this class is built from async operations on a private io_context.
  void run() {
    ioc.restart();
    ioc.run();
  }

  caf::error unavailable(std::string what) {
    return make_state_error(state_errc::backend_unavailable,
                            "DynamoDB at " + host + ":" + port + ": " + what);
  }

  /// True when the server has closed the idle connection (Node closes
  /// keep-alive sockets after 5 s): readable with nothing to read is EOF.
  /// Checked before reuse so a request is never sent into a dead socket,
  /// where its outcome would be unknown.
  bool peer_closed() {
    pollfd p{stream.socket().native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0)
      return false;
    if (p.revents & (POLLHUP | POLLERR))
      return true;
    beast::error_code ec;
    return stream.socket().available(ec) == 0 || ec;
  }

  void drop() {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
    buffer.clear();
    connected = false;
  }

  caf::error connect() {
    if (connected && !peer_closed())
      return {};
    if (connected)
      drop();
    auto now = clock_type::now();
    if (now < retry_at)
      return unavailable(
        "reconnecting in "
        + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                           retry_at - now)
                           .count())
        + " ms (" + last_failure + ")");
    beast::error_code ec;
    tcp::resolver resolver{ioc};
    auto results = resolver.resolve(host, port, ec);
    if (!ec) {
      stream.expires_after(connect_timeout);
      stream.async_connect(results,
                           [&](beast::error_code e, const tcp::endpoint&) {
                             ec = e;
                           });
      run();
    }
    if (ec) {
      stream.close();
      backoff = std::clamp(backoff * 2, min_backoff, max_backoff);
      retry_at = clock_type::now() + backoff;
      last_failure = "connect: " + ec.message();
      return unavailable(last_failure);
    }
    stream.socket().set_option(tcp::no_delay{true}, ec);
    backoff = std::chrono::milliseconds{0};
    connected = true;
    ++connects;
    return {};
  }

  caf::expected<http_reply> exchange(const header_list& headers,
                                     std::string body) {
    http::request<http::string_body> req{http::verb::post, "/", 11};
    for (auto& [name, value] : headers)
      req.set(name, value);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    beast::error_code ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_reply_bytes);
    // One deadline for the whole exchange: write, then read the reply.
    stream.expires_after(request_timeout);
    http::async_write(stream, req, [&](beast::error_code e, size_t) {
      ec = e;
      if (!ec)
        http::async_read(stream, buffer, parser,
                         [&](beast::error_code e2, size_t) { ec = e2; });
    });
    run();
    if (ec) {
      drop();
      last_failure = (ec == beast::error::timeout ? "no reply within "
                                                      + std::to_string(
                                                        request_timeout.count())
                                                      + " ms"
                                                  : "exchange: " + ec.message());
      return unavailable(last_failure);
    }
    auto res = parser.release();
    if (!res.keep_alive())
      drop();
    return http_reply{res.result_int(), std::move(res.body())};
  }
};

http_connection::http_connection(std::string host, uint16_t port,
                                 std::chrono::milliseconds connect_timeout,
                                 std::chrono::milliseconds request_timeout)
  : impl_(std::make_unique<impl>()) {
  impl_->host = std::move(host);
  impl_->port = std::to_string(port);
  impl_->connect_timeout = connect_timeout;
  impl_->request_timeout = request_timeout;
}

http_connection::~http_connection() {
  close();
}

caf::expected<http_reply> http_connection::post(const header_list& headers,
                                                std::string body) {
  if (auto err = impl_->connect())
    return err;
  return impl_->exchange(headers, std::move(body));
}

void http_connection::close() {
  if (impl_->connected)
    impl_->drop();
}

uint64_t http_connection::connects() const {
  return impl_->connects;
}

} // namespace solver_state::dynamodb
