#pragma once

// The HTTP message types of the gateway, and the sink a handler answers
// through (the connection it came from).

#include <functional>
#include <memory>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace solver_state::gateway {

namespace bhttp = boost::beast::http;

using request_t = bhttp::request<bhttp::string_body>;
using response_t = bhttp::response<bhttp::string_body>;

/// Where the answer to one request goes. reply() is thread-safe (handlers
/// call it from CAF threads) and is called exactly once per request.
class reply_sink {
public:
  virtual ~reply_sink() = default;
  virtual void reply(response_t res) = 0;

  /// Thread-safe: runs `step` on the connection's io thread as a further
  /// part of the request, so the store calls it starts are bounded and
  /// cancelled by the request's deadline (504) like the first ones. For a
  /// handler that must ask the store twice: the second call starts from
  /// the first one's callback without the CAF thread waiting for anything.
  /// Dropped, unrun, when the request was already answered.
  virtual void resume(std::function<void()> step) = 0;
};

using sink_ptr = std::shared_ptr<reply_sink>;

} // namespace solver_state::gateway
