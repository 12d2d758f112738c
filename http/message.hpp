#pragma once

// The HTTP message types of the gateway, and the sink a handler answers
// through (the connection it came from).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/request_body.hpp"

namespace solver_state::gateway {

namespace bhttp = boost::beast::http;

using request_t = bhttp::request<request_body>;
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

  /// Thread-safe: like resume(), for a request made of many store steps
  /// (an export, an import): the request's deadline starts anew, so
  /// http.request_timeout bounds each step, not the whole. Always runs
  /// `step` later on the io thread, never inside the caller.
  virtual void next_step(std::function<void()> step) = 0;

  // -- streamed answers (HTTP/1.1 chunked), for answers of any size ------------

  /// Thread-safe: the answer is a stream with this status and these
  /// headers; they go out with the first chunk (or end_stream()), so until
  /// then reply() can still answer with an error instead.
  virtual void open_stream(response_t head) = 0;

  /// Thread-safe: like next_step(), for a step that makes the stream's
  /// next chunk, of up to `chunk_bytes`: `step` runs only once the reply
  /// budget (http.max_pending_reply_bytes) holds that much for this stream,
  /// counted from then until the chunk is written (or the answer ends), so
  /// the chunk's making cannot pass the budget. Before the stream's status
  /// went out, no room is 503 (a stream does not start, the connection
  /// closes) and `step` never runs; after, it waits for room as a started
  /// stream's next chunk does, up to http.read_timeout.
  virtual void reserve_chunk(size_t chunk_bytes,
                             std::function<void()> step) = 0;

  /// Thread-safe: sends `data` as the stream's next chunk and, once the
  /// socket has taken it, runs `then` on the io thread as next_step() does.
  /// Flow control: a slow reader delays `then`, the server buffers one
  /// chunk. When the client is gone or the request is HEAD (headers only),
  /// `then` never runs.
  virtual void stream_chunk(std::string data, std::function<void()> then) = 0;

  /// Thread-safe: like stream_chunk(), the chunk made of `pieces` in order,
  /// written from the strings themselves: text shared by many streams (a
  /// watch's events) is not copied per stream.
  virtual void
  stream_pieces(std::vector<std::shared_ptr<const std::string>> pieces,
                std::function<void()> then) = 0;

  /// Thread-safe: the stream is complete (the terminating chunk), with
  /// `trailer_fields` after it ("Name: value\r\n" each, names the head
  /// announced in its Trailer header; left out for HEAD).
  virtual void end_stream(std::string trailer_fields) = 0;
  void end_stream() { end_stream(std::string{}); }

  /// Thread-safe: the stream now waits for something other than the store
  /// (a watch's next change), for as long as it takes: the request's
  /// deadline is off until the next chunk, and a server that stops closes
  /// the connection at once instead of waiting for the stream to end.
  virtual void idle_stream() = 0;

  /// The request's id (X-Request-Id, the client's or one generated), for
  /// the log lines a long request writes on its own.
  virtual std::string request_id() const = 0;

  /// Thread-safe: false once the connection is closed (the client left, a
  /// write failed or timed out, the server stopped).
  virtual bool connection_open() const = 0;

  /// Thread-safe: the stream cannot be completed (a store error after the
  /// status went out): the connection closes without the terminating chunk,
  /// so the client sees a truncated transfer; logged at warn with `why`.
  /// Before the first chunk, an error answer (reply()) is the better choice.
  virtual void abort_stream(std::string why) = 0;
};

using sink_ptr = std::shared_ptr<reply_sink>;

} // namespace solver_state::gateway
