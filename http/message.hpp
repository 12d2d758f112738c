#pragma once

// The HTTP message types of the gateway, and the sink a handler answers
// through (the connection it came from).

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
};

using sink_ptr = std::shared_ptr<reply_sink>;

} // namespace solver_state::gateway
