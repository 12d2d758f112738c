#pragma once

// One HTTP/1.1 connection, in the shape of Beast's async server examples: a
// strand of its own, do_x/on_x pairs, a timeout armed on every read and write.
// Requests on a connection are served one after another: a pipelining client
// gets its answers in order, and unread pipelined requests stay in the socket
// (the cap on pipelined requests is one in service per connection, and the
// read buffer holds at most a header's worth plus one read). An answer is
// either one response_t or a stream of chunks (reply_sink::open_stream),
// each written before the handler is asked for the next.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "http/bounded_parser.hpp"
#include "http/connection_context.hpp"
#include "http/message.hpp"
#include "http/routes.hpp"

namespace solver_state::gateway {

/// A connection's executor: a strand of its own, named by its concrete type.
/// Beast's tcp_stream and asio's steady_timer default to the type-erased
/// any_io_executor, whose copies, moves and dispatch were several percent of
/// the io thread's time per request under perf.
using connection_executor
  = boost::asio::strand<boost::asio::io_context::executor_type>;
using connection_socket
  = boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                     connection_executor>;

class session : public std::enable_shared_from_this<session> {
public:
  session(connection_socket&& socket, connection_context& ctx);
  ~session();

  /// Registers the connection and starts reading.
  void run();

  /// Thread-safe: answers request number `seq` unless it was already
  /// answered (504 after http.request_timeout): then the late answer is
  /// dropped.
  void reply(uint64_t seq, response_t res);

  /// Thread-safe: runs `step` on the connection's strand as part of request
  /// number `seq` (reply_sink::resume), unless that was already answered.
  void resume(uint64_t seq, std::function<void()> step);

  // -- the rest of reply_sink, for request number `seq` (thread-safe) --------
  void next_step(uint64_t seq, std::function<void()> step);
  void open_stream(uint64_t seq, response_t head);
  void reserve_chunk(uint64_t seq, size_t chunk_bytes,
                     std::function<void()> step);
  void stream_chunk(uint64_t seq, std::string data,
                    std::function<void()> then);
  void stream_pieces(uint64_t seq,
                     std::vector<std::shared_ptr<const std::string>> pieces,
                     std::function<void()> then);
  void end_stream(uint64_t seq, std::string trailer_fields);
  void abort_stream(uint64_t seq, std::string why);

  /// The id of the request being answered, for its handler's own log
  /// lines: set before the handler runs and kept until its answer ends (a
  /// connection serves one request at a time).
  std::string answering_request_id() const { return request_id_; }

  /// Thread-safe: the stream of request `seq` waits without a deadline
  /// (reply_sink::idle_stream).
  void idle_stream(uint64_t seq);

  /// Thread-safe: false once the connection is closed.
  bool open() const { return open_.load(std::memory_order_relaxed); }

  /// Thread-safe: closes the connection now if it waits for a request or
  /// streams an idle answer (a watch); answers a request still being read
  /// from its client 503 at once (nothing of it reached the store); a
  /// connection serving one closes after answering it.
  void shut_down();

  /// Thread-safe: closes a connection the registry evicted while it waited
  /// for the first byte of a request (connection_registry::evict_oldest_idle).
  void close_evicted();

private:
  friend class connection_registry;
  /// waiting: for the first byte of a request; reading: its header and
  /// body, from the client; serving: its handler runs (the store may have
  /// it); closing: after a last answer.
  enum class phase { waiting, reading, serving, closing };

  void do_read();
  /// Waits for the first bytes of the next request, listed in the registry
  /// as idle: within first_byte_timeout on a new connection, read_timeout
  /// on a keep-alive one.
  void wait_first_byte();
  void on_first_bytes(boost::beast::error_code ec, size_t bytes);
  /// Tells the client of an evicted connection that the request it sent as
  /// the eviction came was not read (503), without waiting.
  void answer_unread_request();
  /// Reads the request's header, within read_timeout.
  void read_header();
  void on_header(boost::beast::error_code ec, size_t bytes);
  /// Checks a request on its header alone, before any of its body is read:
  /// too many fields (431), no valid token while a body is still to come
  /// (401). True when it refused the request.
  bool refuse_on_header();
  /// The request's X-Request-Id when usable, else a generated one.
  std::string client_request_id() const;
  /// The id of the request being answered; generates one for a request
  /// refused before its header was parsed.
  const std::string& request_id();
  /// True when no token is configured or the request carries the right
  /// one (the routes open without a token do not count: this guards the
  /// reading of a body).
  bool has_token(const request_t& req) const;
  /// Feeds already buffered bytes to the parser; an error if they are bad.
  boost::beast::error_code parse_buffered();
  void on_continue(boost::beast::error_code ec, size_t bytes);
  /// Reads the body a read at a time, so a chunked one is counted in
  /// ctx_.bodies as it grows.
  void read_body();
  void on_body(boost::beast::error_code ec, size_t bytes);
  /// Counts `bytes` of this request's body in ctx_.bodies, in place of what
  /// was counted for it; false when there is no room.
  bool reserve_body(size_t bytes);
  /// Counts what the chunked body read so far holds; when the budget has
  /// no room for it, refuses the request (503) and returns false.
  bool count_body_growth();
  /// The 503 of a body `bytes` long (so far, for a chunked one) that
  /// http.max_pending_body_bytes has no room for; the connection closes.
  void refuse_body(size_t bytes);
  /// The request's body is gone (answered, refused): no longer counted.
  void release_body();
  void on_read_error(boost::beast::error_code ec);
  /// At stop, for a request still being read: cancels the read, whose
  /// end (operation_aborted) answers 503 (answer_stopping). A read that
  /// had completed as this ran was not cancelled and may have started
  /// another: looked at again shortly, until the request is answered or
  /// in its handler.
  void stop_reading();
  /// The 503 of a request the service stopped reading; the connection
  /// closes after it.
  void answer_stopping();
  void serve();
  /// Bounds the request's current step by http.request_timeout.
  void arm_deadline(uint64_t seq);
  void on_deadline(uint64_t seq, boost::beast::error_code ec);
  /// Runs `step` as a part of the request being served: the store calls it
  /// starts are recorded, so the deadline can cancel them.
  void run_step(const std::function<void()>& step);
  /// Ends the store calls of the request being served that are still
  /// waiting: their bridge slots are free at once, late replies dropped.
  void cancel_calls();
  void send(response_t res);
  /// Counts an answer of `body_bytes` in ctx_.replies before it is
  /// written; false when the budget has no room for it.
  bool reserve_reply(size_t body_bytes);
  /// The 503 an answer of `bytes` gets when reserve_reply refused it (0:
  /// a stream that may not start, whose chunks take up to `chunk_bytes`
  /// when known).
  response_t refused_reply(size_t bytes, size_t chunk_bytes = 0) const;
  /// Answers that 503 instead of the stream not yet started; the
  /// connection closes after it, so a handler's stream (a watch's
  /// subscription) sees it gone and ends.
  void refuse_stream(size_t chunk_bytes);
  /// Counts `chunk_bytes` for the stream's next chunk in ctx_.replies, in
  /// place of what was reserved before; false when there is no room.
  bool reserve_room(size_t chunk_bytes);
  /// Counts what wire_ and the chunk being written hold now.
  void count_held();
  /// After an answer was written: a large buffer goes back, so an idle
  /// keep-alive connection holds none, and the count follows.
  void release_wire();
  /// The response's bytes on the wire, into wire_.
  void serialize(const response_t& res);
  void on_write(bool close, boost::beast::error_code ec, size_t bytes);
  /// The stream's status line and headers into wire_, counted like a
  /// response handed to the connection.
  void start_stream();
  /// On the strand, for a write of request `seq`'s stream: false when that
  /// request was already answered; else ends the step's deadline and store
  /// calls and sends the status and headers first if not yet sent.
  bool begin_stream_write(uint64_t seq);
  /// Writes what is left of the chunk (chunk_buffers_),
  /// a socket's worth at a time, each part with its own read_timeout; then
  /// on_chunk.
  void write_chunk_part(uint64_t seq, std::function<void()> then);
  /// Counts a chunk of the stream and writes it.
  void write_chunk(uint64_t seq,
                   std::vector<std::shared_ptr<const std::string>> pieces,
                   std::function<void()> then);
  /// Asks the handler for the stream's next chunk once the budget has
  /// room, for `chunk_bytes` of it when the handler said how large the
  /// chunk may be (reserve_chunk) (looking again after `poll`, doubling;
  /// broken off at `give_up`; a stream not started yet is refused at once).
  void next_stream_step(uint64_t seq, const std::function<void()>& then,
                        std::chrono::steady_clock::time_point give_up,
                        std::chrono::milliseconds poll,
                        size_t chunk_bytes = 0);
  /// Moves past `bytes` written of the chunk; false when none is left.
  bool consume_chunk(size_t bytes);
  void on_chunk(uint64_t seq, const std::function<void()>& then,
                boost::beast::error_code ec, size_t bytes);
  /// Writes what wire_ holds and the terminating chunk with its trailer
  /// fields (none for HEAD): the stream is complete.
  void finish_stream(const std::string& trailer_fields = {});
  /// Ends the request's stream without its terminating chunk and closes.
  void break_stream(const std::string& why);
  /// While a stream is open, keeps a one-byte read waiting on the socket:
  /// nothing else reads then, and a client that left (a watch's, which may
  /// get nothing to read for a long while) would be noticed only by a
  /// write after its close, the second one since a first succeeds.
  void watch_for_close();
  /// The read of watch_for_close came back: the client closed (the
  /// connection closes now), or sent bytes (a pipelined request, kept in
  /// the buffer for after the stream), or the stream is over.
  void on_close_watch(boost::beast::error_code ec, size_t bytes);
  /// Answers a request that could not be parsed, then closes gracefully.
  void refuse(state_errc code, const std::string& message);
  /// Past the 16 KiB of request line and header: 414 URI Too Long when the
  /// request line alone is that long, else 431.
  void refuse_header_limit();
  /// Same for a request too large to take: `status` (431 Request Header
  /// Fields Too Large, RFC 6585; 414 URI Too Long) with a bad_request body.
  void refuse_oversized(unsigned status, const std::string& message);
  /// Answers `res` without reading the rest of the request, then closes
  /// gracefully, discarding at most `linger_budget` more bytes.
  void refuse(response_t res, size_t linger_budget);
  /// The method of a request whose header the parser has not finished.
  std::string_view leading_method() const;
  /// Graceful close: stop sending, read and discard what the client still
  /// sends (bounded by linger_budget_ and time), then close, so the client
  /// reads our answer instead of a connection reset.
  void linger();
  void on_linger(boost::beast::error_code ec, size_t bytes);
  void close_now();
  void access_log(const response_t& res) const;
  /// The access line (and the warning of a 5xx) of an answer.
  void access_log(unsigned status, size_t bytes, std::string_view detail) const;

  connection_context& ctx_;
  boost::beast::basic_stream<boost::asio::ip::tcp, connection_executor>
    stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<bounded_request_parser> parser_;
  bhttp::response<bhttp::empty_body> continue_;
  std::string wire_;
  /// What wire_ and chunk_ hold, and the room reserved for a stream's
  /// next chunk, as counted in ctx_.replies.
  size_t held_ = 0;
  /// The room reserve_chunk counted for the chunk being made: the chunk
  /// takes its place once written (write_chunk), or the answer ends.
  size_t reserved_ = 0;
  /// Bounds the wait for the store (http.request_timeout): an asio timer on
  /// the connection's strand rather than a CAF request timeout, which would
  /// cost a trip through CAF's clock thread on every request.
  boost::asio::basic_waitable_timer<
    std::chrono::steady_clock,
    boost::asio::wait_traits<std::chrono::steady_clock>, connection_executor>
    deadline_;
  uint64_t seq_ = 0;
  /// Requests whose header was read on this connection: before the first,
  /// it waits for one within first_byte_timeout only.
  uint64_t requests_read_ = 0;
  // -- guarded by the registry's mutex (connection_registry) ---------------------
  session* idle_prev_ = nullptr;
  session* idle_next_ = nullptr;
  bool idle_listed_ = false;
  bool evicted_ = false;
  // -------------------------------------------------------------------------------
  bool awaiting_ = false;
  phase phase_ = phase::waiting;
  size_t lingered_ = 0;
  size_t linger_budget_ = 0;

  // -- the request being served ------------------------------------------------
  /// Resolved as soon as the header is in, for the checks before the body.
  route_match match_;
  /// The bridge calls its handler started (store_bridge::call_scope).
  std::vector<uint64_t> calls_;
  route_id route_ = route_id::unparsed;
  method_id method_ = method_id::other;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  std::string target_; // kept only when the access log is on
  /// The peer's "address:port", for the access log.
  std::string client_;
  /// The limit of this request's body and the setting that sets it.
  size_t body_limit_ = 0;
  /// What ctx_.bodies counts for this request's body.
  size_t body_held_ = 0;
  const char* body_limit_setting_ = "http.max_body_bytes";
  /// X-Request-Id: echoed on the answer, in every log line about it.
  std::string request_id_;
  std::chrono::steady_clock::time_point started_;

  // -- a streamed answer (reply_sink::open_stream) ----------------------------------
  /// The status and headers, until the first chunk takes them out.
  std::optional<response_t> stream_head_;
  /// The status line went out: an error can only break the stream off.
  bool streaming_ = false;
  /// HTTP/1.1 frames the body in chunks; an HTTP/1.0 client gets the raw
  /// bytes and the end of the connection ends the body.
  bool chunked_ = true;
  bool stream_close_ = false;
  /// The stream waits for events, not for the store (idle_stream).
  bool idle_stream_ = false;
  std::atomic<bool> open_{true};
  /// The read of watch_for_close is pending.
  bool watching_close_ = false;
  /// What on_write left to do (read the next request, or linger) until
  /// the read of watch_for_close, cancelled, has come back: two reads at
  /// once could take the next request's bytes out of order.
  std::function<void()> after_close_watch_;
  /// The chunk being written (the framing is in wire_), as shared pieces.
  std::vector<std::shared_ptr<const std::string>> chunk_;
  /// The framing and the pieces as buffers, less what is written.
  std::vector<boost::asio::const_buffer> chunk_buffers_;
  size_t streamed_bytes_ = 0;
};

} // namespace solver_state::gateway
