// Plain HTTP to a credentials endpoint: one connection per exchange (they
// come minutes or hours apart), every step under one deadline.

#include "backends/dynamodb/metadata_http.hpp"

#include <algorithm>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "backends/dynamodb/resolver.hpp"
#include "messages/errors.hpp"

namespace solver_state::aws {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr size_t max_reply_body = 64 * 1024;

caf::error bad_url(const std::string& text, const std::string& why) {
  return make_state_error(state_errc::bad_request,
                          "'" + text + "' is not a usable credentials URL: "
                            + why);
}

} // namespace

caf::expected<http_url> parse_http_url(const std::string& text) {
  const std::string scheme = "http://";
  if (text.rfind(scheme, 0) != 0)
    return bad_url(text, "it must start with http://");
  auto rest = text.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  http_url url;
  url.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!authority.empty() && authority.front() == '[') { // [v6]:port
    auto close = authority.find(']');
    if (close == std::string::npos)
      return bad_url(text, "an IPv6 address without ']'");
    url.host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() != ':')
      return bad_url(text, "garbage after the IPv6 address");
    authority = authority.empty() ? "" : authority.substr(1);
  } else {
    auto colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    authority = colon == std::string::npos ? "" : authority.substr(colon + 1);
  }
  if (url.host.empty())
    return bad_url(text, "no host");
  if (!authority.empty()) {
    if (authority.size() > 5
        || authority.find_first_not_of("0123456789") != std::string::npos
        || std::stoul(authority) == 0 || std::stoul(authority) > 65535)
      return bad_url(text, "the port must be 1 .. 65535");
    url.port = static_cast<uint16_t>(std::stoul(authority));
    url.port_given = true;
  }
  return url;
}

caf::expected<metadata_reply> metadata_exchange(
  const std::string& method, const http_url& url,
  const std::vector<std::pair<std::string, std::string>>& headers,
  std::chrono::milliseconds within, dynamodb::bounded_resolver* names) {
  auto started = std::chrono::steady_clock::now();
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  http::request<http::empty_body> req{http::string_to_verb(method),
                                      url.target, 11};
  auto host = url.host.find(':') == std::string::npos ? url.host
                                                     : "[" + url.host + "]";
  req.set(http::field::host,
          url.port == 80 ? host : host + ":" + std::to_string(url.port));
  for (auto& [name, value] : headers)
    req.set(name, value);
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_reply_body);
  beast::error_code failed;
  std::string step = "connecting";
  // Each step starts the next; ioc.run_for bounds them all together.
  auto exchange = [&](beast::error_code ec,
                      tcp::resolver::results_type found) {
      if (ec)
        return void(failed = ec);
      step = "connecting";
      stream.async_connect(found, [&](beast::error_code ec,
                                      const tcp::endpoint&) {
        if (ec)
          return void(failed = ec);
        step = "sending the request";
        http::async_write(stream, req, [&](beast::error_code ec, size_t) {
          if (ec)
            return void(failed = ec);
          step = "reading the reply";
          http::async_read(stream, buffer, parser,
                           [&](beast::error_code ec, size_t) {
                             if (ec)
                               failed = ec;
                             else
                               step.clear();
                           });
        });
      });
    };
  auto where = method + " http://" + url.host + ":" + std::to_string(url.port)
               + url.target;
  // An address needs no lookup (the usual case: the endpoints are
  // addresses). A name is looked up on a thread of the resolver's own,
  // waited for within the deadline: getaddrinfo cannot be cancelled, and
  // asio's resolver thread, which the io_context joins when it goes, would
  // hold this caller (a shard's thread) for as long as the lookup hangs.
  beast::error_code literal;
  auto address = net::ip::make_address(url.host, literal);
  if (!literal) {
    exchange({}, tcp::resolver::results_type::create(
                   tcp::endpoint{address, url.port}, url.host,
                   std::to_string(url.port)));
  } else {
    std::optional<dynamodb::bounded_resolver> own;
    if (!names)
      names = &own.emplace(url.host, std::to_string(url.port));
    auto found = names->resolve(within);
    if (!found)
      return make_state_error(state_errc::backend_unavailable,
                              where + ": " + message_of(found.error()));
    exchange({}, std::move(*found));
  }
  auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - started);
  ioc.run_for(std::max(within - spent, std::chrono::milliseconds{1}));
  if (!step.empty())
    return make_state_error(
      state_errc::backend_unavailable,
      where + ": "
        + (failed ? step + " failed: " + failed.message()
                  : "no reply within " + std::to_string(within.count())
                      + " ms (" + step + ")"));
  metadata_reply reply;
  reply.status = parser.get().result_int();
  reply.body = std::move(parser.get().body());
  return reply;
}

} // namespace solver_state::aws
