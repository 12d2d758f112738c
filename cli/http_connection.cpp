// The client's HTTP/1.1 connection on one socket, each exchange bounded by
// the timeout, one retry when a kept-alive connection turns out to have been
// closed by the service meanwhile. Beast's timeouts only work on
// asynchronous operations, so every call is an async one run to completion
// on the connection's own io_context: synchronous to the caller.

#include "cli/http_connection.hpp"

#include <array>
#include <cctype>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace solver_state::cli {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// Replies the client holds whole (values, pages, batch replies) are bounded
/// by the service's own limits, far below this; it only stops a runaway.
constexpr uint64_t max_held_reply_bytes = uint64_t{1} << 30;

/// Error bodies of a streamed request are kept up to this size.
constexpr size_t max_held_error_bytes = size_t{1} << 20;

constexpr size_t stream_piece_bytes = 64 * 1024;

template <class Fields>
void copy_headers(const Fields& fields, http_reply& out) {
  for (auto& f : fields) {
    std::string name{f.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string{f.value()};
  }
}

/// An error that means the service closed a kept-alive connection before
/// reading our request, so sending it again on a new one is safe.
bool closed_by_peer(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof
         || ec == net::error::connection_reset
         || ec == net::error::broken_pipe;
}

/// Runs one asynchronous operation to its end; its error. `start` gets the
/// completion handler.
template <class Start>
beast::error_code complete(net::io_context& ioc, Start start) {
  beast::error_code result;
  start([&result](beast::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

} // namespace

std::string http_reply::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string{} : it->second;
}

struct http_connection::impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool open = false;

  bhttp::request<bhttp::string_body>
  make_request(const server_url& url, const std::optional<std::string>& token,
               std::string_view method, const std::string& target,
               std::string body, const header_list& headers) {
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(url.base_path + target);
    req.version(11);
    req.set(bhttp::field::host, url.host_header());
    req.set(bhttp::field::user_agent, "solver-state-cli/" SOLVER_STATE_VERSION);
    if (token)
      req.set(bhttp::field::authorization, "Bearer " + *token);
    for (auto& [name, value] : headers)
      req.set(name, value);
    bool has_body = !body.empty() || method == "PUT" || method == "POST";
    req.body() = std::move(body);
    if (has_body)
      req.prepare_payload();
    if (!req.body().empty())
      req.set(bhttp::field::expect, "100-continue");
    return req;
  }

  /// One request and its answer on the open connection. `stale` tells
  /// whether the failure happened before the service took the request.
  beast::error_code exchange(bhttp::request<bhttp::string_body>& req,
                             std::chrono::milliseconds timeout,
                             http_reply& out, bool& stale) {
    beast::error_code ec;
    stale = false;
    stream.expires_after(timeout);
    bhttp::request_serializer<bhttp::string_body> sr{req};
    bool expect = req.find(bhttp::field::expect) != req.end();
    if (expect) {
      ec = complete(ioc,
                    [&](auto h) { bhttp::async_write_header(stream, sr, h); });
      if (ec) {
        stale = closed_by_peer(ec);
        return ec;
      }
      bhttp::response_parser<bhttp::string_body> interim;
      interim.body_limit(max_held_reply_bytes);
      ec = complete(ioc, [&](auto h) {
        bhttp::async_read(stream, buffer, interim, h);
      });
      if (ec) {
        stale = closed_by_peer(ec) && !interim.got_some();
        return ec;
      }
      if (interim.get().result() != bhttp::status::continue_) {
        // Refused on the headers: the body was never sent, so this
        // connection cannot carry another request.
        auto res = interim.release();
        out.status = res.result_int();
        copy_headers(res, out);
        out.body = std::move(res.body());
        open = false;
        return {};
      }
    }
    ec = complete(ioc, [&](auto h) {
      bhttp::async_write(stream, sr, h);
    });
    if (ec) {
      stale = !expect && closed_by_peer(ec);
      return ec;
    }
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(max_held_reply_bytes);
    if (req.method() == bhttp::verb::head)
      parser.skip(true);
    ec = complete(ioc, [&](auto h) {
      bhttp::async_read(stream, buffer, parser, h);
    });
    if (ec) {
      stale = !expect && closed_by_peer(ec) && !parser.got_some();
      return ec;
    }
    auto res = parser.release();
    out.status = res.result_int();
    copy_headers(res, out);
    out.body = std::move(res.body());
    if (!res.keep_alive())
      open = false;
    return {};
  }
};

http_connection::http_connection(server_url url,
                                 std::optional<std::string> token,
                                 std::chrono::milliseconds timeout)
  : url_(std::move(url)),
    token_(std::move(token)),
    timeout_(timeout),
    impl_(std::make_unique<impl>()) {
}

http_connection::~http_connection() {
  close();
}

failure http_connection::unreachable(const std::string& what,
                                     const std::string& why) const {
  return {exit_unavailable, "unreachable",
          url_.text + ": " + what + ": " + why};
}

namespace {

std::string describe(const beast::error_code& ec,
                     std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout)
    return "no answer within " + std::to_string(timeout.count()) + " ms";
  return ec.message();
}

} // namespace

maybe_failure http_connection::connect() {
  close();
  tcp::resolver resolver{impl_->ioc};
  beast::error_code ec;
  auto endpoints = resolver.resolve(url_.host, url_.port, ec);
  if (ec)
    return unreachable("cannot resolve " + url_.host, ec.message());
  impl_->stream.expires_after(timeout_);
  ec = complete(impl_->ioc, [&](auto h) {
    impl_->stream.async_connect(endpoints, h);
  });
  if (ec)
    return unreachable("cannot connect", describe(ec, timeout_));
  impl_->open = true;
  return std::nullopt;
}

void http_connection::close() {
  beast::error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream.socket().close(ignored);
  impl_->buffer.clear();
  impl_->open = false;
}

expected<http_reply> http_connection::send(std::string_view method,
                                           const std::string& target,
                                           std::string body,
                                           const header_list& headers) {
  auto req = impl_->make_request(url_, token_, method, target,
                                 std::move(body), headers);
  for (int attempt = 0;; ++attempt) {
    bool reused = impl_->open;
    if (!impl_->open)
      if (auto f = connect())
        return *f;
    http_reply reply;
    bool stale = false;
    auto ec = impl_->exchange(req, timeout_, reply, stale);
    if (!ec) {
      if (!impl_->open)
        close();
      return reply;
    }
    close();
    if (!(reused && stale && attempt == 0))
      return unreachable(std::string{method} + " " + target,
                         describe(ec, timeout_));
  }
}

expected<http_reply> http_connection::stream(const std::string& target,
                                             const body_sink& sink,
                                             const stream_options& options) {
  auto req = impl_->make_request(url_, token_, "GET", target, {},
                                 options.headers);
  auto idle = options.idle.count() > 0 ? options.idle : timeout_;
  auto& s = impl_->stream;
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);
  beast::error_code ec;
  // `limit`: the bound the failed wait had, for a timeout's message.
  auto lost = [&](std::chrono::milliseconds limit) {
    close();
    return unreachable("GET " + target, describe(ec, limit));
  };
  for (int attempt = 0;; ++attempt) {
    bool reused = impl_->open;
    if (!impl_->open)
      if (auto f = connect())
        return *f;
    s.expires_after(timeout_);
    ec = complete(impl_->ioc, [&](auto h) {
      bhttp::async_write(s, req, h);
    });
    if (!ec)
      ec = complete(impl_->ioc, [&](auto h) {
        bhttp::async_read_header(s, impl_->buffer, parser, h);
      });
    if (!ec)
      break;
    bool stale = closed_by_peer(ec) && !parser.got_some();
    if (!(reused && stale && attempt == 0))
      return lost(timeout_);
    close();
  }
  http_reply reply;
  reply.status = parser.get().result_int();
  copy_headers(parser.get(), reply);
  bool to_sink = reply.status == 200;
  if (to_sink && options.framed_only && !parser.chunked()
      && !parser.content_length()) {
    close();
    return unreachable("GET " + target,
                       "the answer has neither Content-Length nor chunked "
                       "encoding: where it ends cannot be told from a "
                       "broken connection");
  }
  std::array<char, stream_piece_bytes> piece;
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    s.expires_after(idle);
    ec = complete(impl_->ioc, [&](auto h) {
      if (options.as_it_arrives)
        bhttp::async_read_some(s, impl_->buffer, parser, h);
      else
        bhttp::async_read(s, impl_->buffer, parser, h);
    });
    if (ec == bhttp::error::need_buffer)
      ec = {};
    if (ec)
      return lost(idle);
    std::string_view got{piece.data(), piece.size() - parser.get().body().size};
    if (to_sink) {
      if (auto f = sink(got)) {
        close();
        return *f;
      }
    } else if (reply.body.size() < max_held_error_bytes) {
      reply.body.append(got);
    }
  }
  // Trailer fields (after the last chunk) join the header's.
  copy_headers(parser.get(), reply);
  if (!parser.get().keep_alive())
    close();
  return reply;
}

} // namespace solver_state::cli
