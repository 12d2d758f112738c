// The DynamoDB backend's blocking HTTP/1.1 client: one kept-alive connection
// (plain or TLS) with deadlines, reconnect backoff and TLS session reuse.

#include "backends/dynamodb/http.hpp"

#include <algorithm>
#include <optional>

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>

#include "backends/dynamodb/resolver.hpp"
#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

namespace {

constexpr std::chrono::milliseconds min_backoff{50};
constexpr std::chrono::milliseconds max_backoff{2'000};
/// BatchGetItem of 100 large items can reach 16 MB of base64.
constexpr uint64_t max_reply_bytes = 64ull << 20;

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

/// Asks OpenSSL to check the peer's certificate against `host` during the
/// handshake: the same X509_check_host / X509_check_ip_asc checks as
/// ssl::host_name_verification, but a mismatch then fails with its own
/// verify result ("hostname mismatch") instead of a bare "certificate verify
/// failed". SNI carries names only (RFC 6066 forbids IP literals).
bool expect_peer(SSL* ssl, const std::string& host) {
  if (is_ip_address(host))
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str())
           == 1;
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1
         && SSL_set1_host(ssl, host.c_str()) == 1;
}

/// Why a handshake failed, in words an operator can act on.
std::string handshake_failure(SSL* ssl, const beast::error_code& ec) {
  auto why = ec.message();
  auto verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK)
    why += std::string{": "} + X509_verify_cert_error_string(verify);
  if (why.find("wrong version number") != std::string::npos
      || why.find("packet length too long") != std::string::npos)
    why += " (is the server speaking plain HTTP? then use dynamodb://)";
  return why;
}

struct session_free {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using session_ptr = std::unique_ptr<SSL_SESSION, session_free>;

} // namespace

struct http_connection::impl {
  std::string host;
  std::string port;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds request_timeout;
  tls_context tls;
  std::optional<bounded_resolver> resolver;
  net::io_context ioc;
  // One of the two, made fresh for each connection: an ssl_stream cannot be
  // reused once its session ended.
  std::optional<beast::tcp_stream> plain;
  std::optional<tls_stream> secure;
  beast::flat_buffer buffer;
  bool connected = false;
  clock_type::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  std::string last_failure;
  /// The last handshake failure logged: a bad certificate fails every
  /// reconnect the same way, and one line says it all.
  std::string logged_tls_failure;
  uint64_t connects = 0;
  /// The session to offer to the next handshake: from the last connection
  /// that served a reply, so from a verified handshake with host:port.
  /// Handed over to that handshake (a TLS 1.3 ticket is meant for one use;
  /// the new connection's own session replaces it after its first reply).
  session_ptr session;
  uint64_t resumed = 0;

  beast::tcp_stream& tcp_layer() {
    return secure ? beast::get_lowest_layer(*secure) : *plain;
  }

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
  /// where its outcome would be unknown. Over TLS any bytes on an idle
  /// connection mean the same: the only records a server sends unasked
  /// after the first reply are alerts (close_notify), and TLS 1.3 encrypts
  /// those so they cannot be told apart by peeking.
  bool peer_closed() {
    auto& socket = tcp_layer().socket();
    pollfd p{socket.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0)
      return false;
    if ((p.revents & (POLLHUP | POLLERR)) || secure)
      return true;
    beast::error_code ec;
    return socket.available(ec) == 0 || ec;
  }

  /// Closes the socket without a TLS close_notify: the connection is being
  /// dropped because it failed or went idle, and waiting for the server to
  /// acknowledge would only add a round trip to an error path.
  void drop() {
    // Marked as shut down so that SSL_free keeps the session resumable:
    // OpenSSL flags the session of a connection that ended without
    // close_notify as not resumable, which TLS 1.1 and later no longer ask
    // for (RFC 5246, 7.2.1) and which would make every idle close cost a
    // full handshake.
    if (secure)
      SSL_set_shutdown(secure->native_handle(),
                       SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    if (plain || secure) {
      beast::error_code ec;
      tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
      tcp_layer().close();
    }
    plain.reset();
    secure.reset();
    buffer.clear();
    connected = false;
  }

  caf::error fail_connect(std::string failure) {
    drop();
    backoff = std::clamp(backoff * 2, min_backoff, max_backoff);
    retry_at = clock_type::now() + backoff;
    last_failure = std::move(failure);
    return unavailable(last_failure);
  }

  std::string timed_out(std::chrono::milliseconds limit) {
    return "no reply within " + std::to_string(limit.count()) + " ms";
  }

  caf::error handshake() {
    auto* ssl = secure->native_handle();
    if (!expect_peer(ssl, host))
      return fail_connect("TLS: cannot set the expected host name");
    // SSL_set_session takes its own reference; a server that declines the
    // session simply runs a full handshake, verified as any other.
    if (session && SSL_set_session(ssl, session.get()) != 1)
      spdlog::debug("DynamoDB at {}:{}: cannot offer the TLS session", host,
                    port);
    session.reset();
    beast::error_code ec;
    tcp_layer().expires_after(connect_timeout);
    secure->async_handshake(ssl::stream_base::client,
                            [&](beast::error_code e) { ec = e; });
    run();
    if (!ec) {
      logged_tls_failure.clear();
      if (SSL_session_reused(ssl)) {
        ++resumed;
        spdlog::debug("DynamoDB at {}:{}: TLS session resumed", host, port);
      }
      return {};
    }
    auto why = ec == beast::error::timeout ? timed_out(connect_timeout)
                                           : handshake_failure(ssl, ec);
    auto failure = "TLS handshake failed: " + why;
    if (failure != logged_tls_failure) {
      spdlog::error("DynamoDB at {}:{}: {} (retrying with backoff; repeats "
                    "of this error are not logged)",
                    host, port, failure);
      logged_tls_failure = failure;
    }
    return fail_connect(std::move(failure));
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
    if (tls)
      secure.emplace(ioc, *tls);
    else
      plain.emplace(ioc);
    // The name lookup and the connect are bounded by connect_timeout each.
    auto results = resolver->resolve(connect_timeout);
    if (!results)
      return fail_connect(message_of(results.error()));
    beast::error_code ec;
    tcp_layer().expires_after(connect_timeout);
    tcp_layer().async_connect(*results,
                              [&](beast::error_code e, const tcp::endpoint&) {
                                ec = e;
                              });
    run();
    if (ec)
      return fail_connect("connect: " + ec.message());
    tcp_layer().socket().set_option(tcp::no_delay{true}, ec);
    if (secure)
      if (auto err = handshake())
        return err;
    connected = true;
    ++connects;
    return {};
  }

  /// Keeps the current session for the next connection once a reply was
  /// read: the handshake succeeded (verified) and a TLS 1.3 server's
  /// NewSessionTicket, sent before its first reply, has been processed.
  void remember_session() {
    session_ptr current{SSL_get1_session(secure->native_handle())};
    if (current && SSL_SESSION_is_resumable(current.get()))
      session = std::move(current);
  }

  /// Writes `req` and reads the reply into `parser` under one deadline.
  template <class Stream>
  beast::error_code
  round_trip(Stream& stream, http::request<http::string_body>& req,
             http::response_parser<http::string_body>& parser,
             std::chrono::milliseconds limit) {
    beast::error_code ec;
    tcp_layer().expires_after(limit);
    http::async_write(stream, req, [&](beast::error_code e, size_t) {
      ec = e;
      if (!ec)
        http::async_read(stream, buffer, parser,
                         [&](beast::error_code e2, size_t) { ec = e2; });
    });
    run();
    return ec;
  }

  caf::expected<http_reply> exchange(const header_list& headers,
                                     std::string body,
                                     std::chrono::milliseconds limit) {
    http::request<http::string_body> req{http::verb::post, "/", 11};
    for (auto& [name, value] : headers)
      req.set(name, value);
    req.keep_alive(true);
    req.body() = std::move(body);
    req.prepare_payload();
    http::response_parser<http::string_body> parser;
    parser.body_limit(max_reply_bytes);
    auto ec = secure ? round_trip(*secure, req, parser, limit)
                     : round_trip(*plain, req, parser, limit);
    if (ec == beast::error::timeout)
      // A server that accepts connections but does not answer (hung,
      // overloaded, a process stopped: its kernel still completes the
      // handshake): the calls queued behind this one fail at once until
      // the backoff passes, rather than each waiting out the timeout in
      // turn (30 queued writes kept a frozen DynamoDB's shard, and a stop
      // behind them, busy for 123 s).
      return fail_connect(timed_out(limit));
    if (ec) {
      // A keep-alive connection the server closed: the caller may retry at
      // once on a new one.
      drop();
      last_failure = "exchange: " + ec.message();
      return unavailable(last_failure);
    }
    backoff = std::chrono::milliseconds{0};
    if (secure)
      remember_session();
    auto res = parser.release();
    if (!res.keep_alive())
      drop();
    return http_reply{res.result_int(), std::move(res.body())};
  }
};

http_connection::http_connection(std::string host, uint16_t port,
                                 std::chrono::milliseconds connect_timeout,
                                 std::chrono::milliseconds request_timeout,
                                 tls_context tls)
  : impl_(std::make_unique<impl>()) {
  impl_->host = std::move(host);
  impl_->port = std::to_string(port);
  impl_->connect_timeout = connect_timeout;
  impl_->request_timeout = request_timeout;
  impl_->tls = std::move(tls);
  impl_->resolver.emplace(impl_->host, impl_->port);
}

http_connection::~http_connection() {
  close();
}

caf::expected<http_reply> http_connection::post(const header_list& headers,
                                                std::string body,
                                                std::chrono::milliseconds
                                                  timeout) {
  if (auto err = impl_->connect())
    return err;
  return impl_->exchange(headers, std::move(body),
                         std::min(timeout, impl_->request_timeout));
}

void http_connection::close() {
  if (impl_->connected)
    impl_->drop();
}

uint64_t http_connection::connects() const {
  return impl_->connects;
}

uint64_t http_connection::resumed() const {
  return impl_->resumed;
}

} // namespace solver_state::dynamodb
