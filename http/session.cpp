// One HTTP/1.1 connection: reads requests within size and time limits,
// checks the token before reading a body, serves requests in order, answers
// 504 after request_timeout (cancelling the store call), closes cleanly.

#include "http/session.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>

#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "http/auth.hpp"
#include "http/header_text.hpp"
#include "http/http_date.hpp"
#include "http/listener.hpp"
#include "http/log_throttle.hpp"
#include "http/request_id.hpp"
#include "http/responses.hpp"
#include "http/store_bridge.hpp"

namespace solver_state::gateway {

namespace beast = boost::beast;
namespace net = boost::asio;

namespace {

/// After an error answer, how much of the rest of the request we read and
/// throw away before closing anyway.
constexpr size_t linger_bytes = 1 << 20;
constexpr std::chrono::seconds linger_time{2};
/// The same wait while the service stops: enough for a client to read the
/// answer and close, without a silent one holding the stop for long (the
/// drain waits for every connection to end).
constexpr std::chrono::milliseconds stop_linger_time{500};

/// At stop, how soon a connection still reading a request looks again
/// whether its read was cancelled (session::stop_reading).
constexpr std::chrono::milliseconds stop_read_recheck{50};

/// What one read may add to the connection's buffer (Beast reads at most
/// this much at a time). The buffer holds at most a header (header_limit)
/// plus one read: a request line, header or chunk-size line that does not
/// end within that is refused instead of growing the buffer without bound.
constexpr size_t read_chunk = 64 * 1024;

/// How often a stream whose next chunk waits for room in the budget looks
/// again: from the first, doubling up to the last.
constexpr std::chrono::milliseconds first_room_poll{20};
constexpr std::chrono::milliseconds last_room_poll{320};

/// Every 5xx answer is logged at warn with its request id, at most this
/// many a second: a dead backend answers every request 503.
log_throttle server_error_lines{10};

/// Not a field Beast knows by enum; looked up by name.
constexpr std::string_view request_id_field = "X-Request-Id";

bool is_parse_error(const beast::error_code& ec) {
  return ec.category()
         == bhttp::make_error_code(bhttp::error::bad_method).category();
}

} // namespace

// -- registry ----------------------------------------------------------------------

void connection_registry::add(const std::shared_ptr<session>& s) {
  std::lock_guard<std::mutex> guard{mtx_};
  sessions_.emplace(s.get(), s);
}

void connection_registry::remove(session* s) {
  std::lock_guard<std::mutex> guard{mtx_};
  unlink_idle(s);
  sessions_.erase(s);
}

std::vector<std::shared_ptr<session>> connection_registry::snapshot() const {
  std::vector<std::shared_ptr<session>> out;
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [ptr, weak] : sessions_)
    if (auto s = weak.lock())
      out.push_back(std::move(s));
  return out;
}

size_t connection_registry::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return sessions_.size();
}

void connection_registry::idle(session* s) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (s->idle_listed_ || s->evicted_)
    return;
  s->idle_listed_ = true;
  s->idle_prev_ = idle_tail_;
  s->idle_next_ = nullptr;
  (idle_tail_ ? idle_tail_->idle_next_ : idle_head_) = s;
  idle_tail_ = s;
}

bool connection_registry::busy(session* s) {
  std::lock_guard<std::mutex> guard{mtx_};
  unlink_idle(s);
  return !s->evicted_;
}

std::shared_ptr<session> connection_registry::evict_oldest_idle() {
  std::lock_guard<std::mutex> guard{mtx_};
  while (idle_head_) {
    auto* oldest = idle_head_;
    unlink_idle(oldest);
    auto it = sessions_.find(oldest);
    auto alive = it == sessions_.end() ? nullptr : it->second.lock();
    if (!alive)
      continue; // in its destructor, waiting for this mutex: gone anyway
    oldest->evicted_ = true;
    sessions_.erase(it);
    return alive;
  }
  return nullptr;
}

void connection_registry::unlink_idle(session* s) {
  if (!s->idle_listed_)
    return;
  (s->idle_prev_ ? s->idle_prev_->idle_next_ : idle_head_) = s->idle_next_;
  (s->idle_next_ ? s->idle_next_->idle_prev_ : idle_tail_) = s->idle_prev_;
  s->idle_prev_ = s->idle_next_ = nullptr;
  s->idle_listed_ = false;
}

// -- session -------------------------------------------------------------------------

namespace {

/// The sink of one request: remembers which request it answers, so a reply
/// that comes after the 504 cannot answer the connection's next request.
class request_sink : public reply_sink {
public:
  request_sink(std::shared_ptr<session> s, uint64_t seq)
    : session_(std::move(s)), seq_(seq) {
  }

  void reply(response_t res) override {
    session_->reply(seq_, std::move(res));
  }

  void resume(std::function<void()> step) override {
    session_->resume(seq_, std::move(step));
  }

  void next_step(std::function<void()> step) override {
    session_->next_step(seq_, std::move(step));
  }

  void open_stream(response_t head) override {
    session_->open_stream(seq_, std::move(head));
  }

  void reserve_chunk(size_t chunk_bytes, std::function<void()> step) override {
    session_->reserve_chunk(seq_, chunk_bytes, std::move(step));
  }

  void stream_chunk(std::string data, std::function<void()> then) override {
    session_->stream_chunk(seq_, std::move(data), std::move(then));
  }

  void stream_pieces(std::vector<std::shared_ptr<const std::string>> pieces,
                     std::function<void()> then) override {
    session_->stream_pieces(seq_, std::move(pieces), std::move(then));
  }

  void end_stream(std::string trailer_fields) override {
    session_->end_stream(seq_, std::move(trailer_fields));
  }

  void idle_stream() override { session_->idle_stream(seq_); }

  bool connection_open() const override { return session_->open(); }

  std::string request_id() const override {
    return session_->answering_request_id();
  }

  void abort_stream(std::string why) override {
    session_->abort_stream(seq_, std::move(why));
  }

private:
  std::shared_ptr<session> session_;
  uint64_t seq_;
};

} // namespace

session::session(connection_socket&& socket, connection_context& ctx)
  : ctx_(ctx),
    stream_(std::move(socket)),
    buffer_(ctx.limits.header_limit + read_chunk),
    deadline_(stream_.get_executor()) {
  beast::error_code ec;
  auto peer = stream_.socket().remote_endpoint(ec);
  if (!ec)
    client_ = peer.address().to_string() + ":" + std::to_string(peer.port());
}

session::~session() {
  ctx_.replies.resize(held_, 0);
  ctx_.bodies.resize(body_held_, 0);
  ctx_.registry.remove(this);
}

void session::run() {
  ctx_.registry.add(shared_from_this());
  // Start on the connection's strand (the socket was accepted on it).
  net::dispatch(stream_.get_executor(),
                beast::bind_front_handler(&session::do_read,
                                          shared_from_this()));
}

void session::shut_down() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == phase::waiting || self->idle_stream_)
      return self->close_now();
    // A client that sends its request slowly, or stalled half-way through
    // its body, held the stop for the whole drain (10 s) and then saw a
    // bare close. Found by review.
    if (self->phase_ == phase::reading)
      self->stop_reading();
  });
}

void session::stop_reading() {
  if (phase_ != phase::reading)
    return;
  beast::error_code ec;
  stream_.socket().cancel(ec);
  deadline_.expires_after(stop_read_recheck);
  deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec)
      self->stop_reading();
  });
}

void session::answer_stopping() {
  deadline_.cancel();
  spdlog::debug("http: the service stops: answering 503 to a request not "
                "read to its end request_id={}",
                request_id());
  // refuse(): Connection: close, and a short linger (the service stops).
  refuse(error_response(state_errc::backend_unavailable,
                        "the service is stopping: this request was not read "
                        "to its end, and nothing of it was done; retry"),
         linger_bytes);
}

void session::close_evicted() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    spdlog::debug("http: closing connection {}, idle, to admit a new one "
                  "(http.max_connections={})",
                  self->client_, self->ctx_.limits.max_connections);
    self->close_now();
  });
}

void session::idle_stream(uint64_t seq) {
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), seq] {
    if (!self->awaiting_ || seq != self->seq_)
      return;
    self->deadline_.cancel();
    self->idle_stream_ = true;
    if (self->ctx_.stopping.load(std::memory_order_relaxed))
      self->close_now();
  });
}

void session::do_read() {
  if (ctx_.stopping.load(std::memory_order_relaxed))
    return close_now();
  phase_ = phase::waiting;
  release_body();
  linger_budget_ = linger_bytes + ctx_.limits.max_body_bytes;
  route_ = route_id::unparsed;
  method_ = method_id::other;
  target_.clear();
  request_id_.clear();
  stream_head_.reset();
  streaming_ = false;
  idle_stream_ = false;
  streamed_bytes_ = 0;
  parser_.emplace(ctx_.limits.header_limit, ctx_.limits.max_header_fields);
  // The limit depends on the route (an import takes more): checked once
  // the header is in (refuse_on_header), before any of the body is read.
  parser_->body_limit(boost::none);
  parser_->header_limit(static_cast<uint32_t>(ctx_.limits.header_limit));
  // Bytes of a pipelined request already in the buffer: it has begun.
  if (buffer_.size() > 0)
    return read_header();
  wait_first_byte();
}

void session::wait_first_byte() {
  ctx_.registry.idle(this);
  auto limit = ctx_.limits.read_timeout;
  if (requests_read_ == 0)
    limit = std::min(limit, ctx_.limits.first_byte_timeout);
  stream_.expires_after(limit);
  // One byte: it tells that a request has begun, and the header's read
  // that follows reads as before. A chunk read here brought most of a
  // large write's body through this buffer, which raised the service's
  // resident memory under 64 KiB writes by ~40 MB (http_watch_test's flat
  // memory case failed).
  stream_.async_read_some(buffer_.prepare(1),
                          beast::bind_front_handler(&session::on_first_bytes,
                                                    shared_from_this()));
}

void session::on_first_bytes(beast::error_code ec, size_t bytes) {
  buffer_.commit(bytes);
  // Evicted to admit a new connection: whatever came meanwhile is not
  // served. A keep-alive client retries on a fresh connection after the
  // close of a connection it had not used yet; one whose request arrived
  // as the eviction chose the connection is told it was not read.
  if (!ctx_.registry.busy(this)) {
    if (bytes > 0)
      answer_unread_request();
    return close_now();
  }
  if (ec == net::error::eof) // closed between requests: nothing to say
    ec = bhttp::error::end_of_stream;
  if (ec)
    return on_read_error(ec);
  read_header();
}

void session::answer_unread_request() {
  // On this strand nothing else closes the socket: an open one is still
  // this connection's (a closed one's number may be another's by now).
  if (!stream_.socket().is_open())
    return;
  auto text = refused_connection_answer(
    "the connection was closed to admit another (http.max_connections) as "
    "this request arrived; it was not read: retry");
  [[maybe_unused]] auto n
    = ::send(stream_.socket().native_handle(), text.data(), text.size(),
             MSG_NOSIGNAL | MSG_DONTWAIT);
}

void session::read_header() {
  phase_ = phase::reading;
  stream_.expires_after(ctx_.limits.read_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&session::on_header,
                                                     shared_from_this()));
}

void session::on_header(beast::error_code ec, size_t) {
  // The request has arrived: solver_state_http_request_duration_seconds and
  // the access log measure from here (a header error too is answered).
  started_ = std::chrono::steady_clock::now();
  if (ec)
    return on_read_error(ec);
  ++requests_read_;
  request_id_ = client_request_id();
  if (refuse_on_header())
    return;
  // A small body usually came with the header: parse it from the buffer
  // here instead of paying another asynchronous read for it.
  if (!parser_->is_done() && buffer_.size() > 0)
    if (auto perr = parse_buffered(); perr)
      return on_read_error(perr);
  if (!count_body_growth())
    return;
  if (parser_->is_done())
    return serve();
  auto& req = parser_->get();
  // HTTP/1.0 has no interim answers: a 100 would be its final one (RFC
  // 9110 10.1.1: the expectation is ignored).
  if (req.version() >= 11
      && beast::iequals(req[bhttp::field::expect], "100-continue")) {
    continue_ = {bhttp::status::continue_, req.version()};
    continue_.set(bhttp::field::server, "solver-state");
    continue_.set(bhttp::field::date, http_date_now());
    continue_.set(request_id_field, request_id_);
    return bhttp::async_write(stream_, continue_,
                              beast::bind_front_handler(&session::on_continue,
                                                        shared_from_this()));
  }
  read_body();
}

namespace {

/// Why a request's body framing cannot be trusted, or empty. The parser
/// frames a body by chunks only when `chunked` is the last transfer coding,
/// and otherwise reads no body at all, ignoring a Content-Length beside it:
/// a `Transfer-Encoding: foo` request was served with an empty body and
/// its body served as the next request (a desync a proxy in front may not
/// share). Anything but `chunked` alone is refused, and so is
/// Transfer-Encoding beside Content-Length (RFC 9112 6.1, 6.3).
std::string framing_problem(const request_t& req) {
  size_t codings = 0;
  bool only_chunked = true;
  auto [first, last] = req.equal_range(bhttp::field::transfer_encoding);
  for (auto field = first; field != last; ++field) {
    std::string_view value{field->value().data(), field->value().size()};
    while (!value.empty()) {
      auto comma = value.find(',');
      auto coding = trim_ows(value.substr(0, comma));
      value = comma == std::string_view::npos ? std::string_view{}
                                              : value.substr(comma + 1);
      if (coding.empty())
        continue;
      ++codings;
      only_chunked = only_chunked && beast::iequals(coding, "chunked");
    }
  }
  if (codings == 0)
    return req.count(bhttp::field::transfer_encoding) != 0
             ? "an empty Transfer-Encoding"
             : std::string{};
  if (codings > 1 || !only_chunked)
    return "Transfer-Encoding must be chunked alone (no other coding is "
           "supported)";
  if (req.count(bhttp::field::content_length) != 0)
    return "both Transfer-Encoding and Content-Length";
  return {};
}

} // namespace

bool session::refuse_on_header() {
  auto& req = parser_->get();
  match_ = ctx_.handlers.resolve(req);
  route_ = match_.route;
  if (auto problem = framing_problem(req); !problem.empty()) {
    // Not a byte after the header is read as a request: the connection
    // closes with the answer (what follows is discarded while it lingers).
    refuse(state_errc::bad_request, "malformed HTTP request: " + problem);
    return true;
  }
  // The number of fields and the header's bytes were bounded as the parser
  // read them (bounded_parser.hpp).
  bool importing = match_.route == route_id::import_keys
                   && method_of(req.method_string()) == method_id::post;
  body_limit_ = importing ? ctx_.limits.max_import_bytes
                          : ctx_.limits.max_body_bytes;
  body_limit_setting_ = importing ? "http.max_import_bytes"
                                  : "http.max_body_bytes";
  // A Content-Length over the limit is refused on the header alone; a
  // chunked body counts against what is left of it as it comes.
  auto length = parser_->content_length();
  if (length && *length > body_limit_) {
    on_read_error(bhttp::error::body_limit);
    return true;
  }
  parser_->body_limit(body_limit_);
  // Without the token nobody may make us read a body, on the routes open
  // without one too (a probe sends none); nor is a body read for a request
  // refused before its handler (400 target, 404, 405): answer now, before
  // any 100 Continue, close, and discard at most linger_bytes of what
  // follows. Without a body to come the request takes the usual path (the
  // api answers the same and the connection stays open).
  if (parser_->is_done())
    return false;
  if (!has_token(req)) {
    refuse(unauthorized_response(), linger_bytes);
    return true;
  }
  // A body that came whole with its header costs no read: it takes the
  // usual path too (the api answers the same refusal, and a request
  // pipelined behind it is answered).
  bool came_whole = length && buffer_.size() >= *length;
  if (!came_whole) {
    if (auto refused = ctx_.handlers.refusal(req, match_)) {
      refuse(std::move(*refused), linger_bytes);
      return true;
    }
  }
  // All bodies together are bounded too: eight imports held one byte short
  // of complete took the service from 31 MB to 562 MB, up to
  // http.max_connections x http.max_import_bytes. Found by review. A body
  // counts what it holds as it arrives (on_body): counted whole on its
  // Content-Length, four headers announcing 64 MiB each, and no body after
  // them, held the whole budget until read_timeout (found by review too).
  // What the body reserves on its announced length alone counts at once.
  auto up_front = std::min<std::uint64_t>(length.value_or(0),
                                          request_body::reserved_up_front);
  if (!reserve_body(static_cast<size_t>(up_front))) {
    refuse_body(static_cast<size_t>(up_front));
    return true;
  }
  return false;
}

bool session::reserve_body(size_t bytes) {
  if (!ctx_.bodies.try_resize(body_held_, bytes))
    return false;
  body_held_ = bytes;
  return true;
}

bool session::count_body_growth() {
  if (!parser_)
    return true;
  auto holds = parser_->get().body().capacity();
  if (holds <= body_held_ || reserve_body(holds))
    return true;
  refuse_body(parser_->get().body().size());
  return false;
}

void session::refuse_body(size_t bytes) {
  auto res = error_response(
    state_errc::backend_unavailable,
    "request bodies being read or served hold "
      + std::to_string(ctx_.bodies.held())
      + " bytes (http.max_pending_body_bytes="
      + std::to_string(ctx_.bodies.limit()) + "): this body of "
      + std::to_string(bytes) + " bytes so far would pass it; retry shortly");
  res.set(bhttp::field::retry_after, "1");
  spdlog::debug("http: refusing request: {} request_id={}", res.body(),
                request_id());
  refuse(std::move(res), linger_bytes);
}

void session::release_body() {
  ctx_.bodies.resize(body_held_, 0);
  body_held_ = 0;
}

std::string session::client_request_id() const {
  auto& req = parser_->get();
  auto it = req.find(request_id_field);
  if (it == req.end())
    return generate_request_id();
  std::string_view value{it->value().data(), it->value().size()};
  return request_id_for(&value);
}

const std::string& session::request_id() {
  // A request refused before its header was parsed has no client id.
  if (request_id_.empty())
    request_id_ = generate_request_id();
  return request_id_;
}

bool session::has_token(const request_t& req) const {
  return ctx_.auth_token.empty()
         || bearer_matches(req[bhttp::field::authorization], ctx_.auth_token);
}

beast::error_code session::parse_buffered() {
  beast::error_code ec;
  while (!parser_->is_done() && buffer_.size() > 0) {
    auto used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more)
      return {};
    if (ec || used == 0)
      return ec;
  }
  return ec;
}

void session::on_continue(beast::error_code ec, size_t) {
  if (ec == net::error::operation_aborted && phase_ == phase::reading)
    // stop_reading() cancelled the write (of a few bytes: a socket takes
    // them at once unless its client reads nothing at all).
    return answer_stopping();
  if (ec)
    return close_now();
  read_body();
}

void session::read_body() {
  bhttp::async_read_some(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&session::on_body,
                                                   shared_from_this()));
}

void session::on_body(beast::error_code ec, size_t) {
  if (ec)
    return on_read_error(ec);
  if (!count_body_growth())
    return;
  if (!parser_->is_done())
    return read_body();
  serve();
}

void session::on_read_error(beast::error_code ec) {
  if (ec == net::error::operation_aborted) {
    // Only stop_reading() cancels a read whose connection goes on.
    if (phase_ == phase::reading
        && ctx_.stopping.load(std::memory_order_relaxed))
      answer_stopping();
    return;
  }
  if (ec == bhttp::error::body_limit)
    return refuse(state_errc::payload_too_large,
                  std::string{"body exceeds "} + body_limit_setting_ + "="
                    + std::to_string(body_limit_));
  if (ec == bhttp::error::header_limit)
    return refuse_header_limit();
  if (ec == bhttp::error::buffer_overflow)
    return refuse(state_errc::bad_request,
                  "a request line, header or chunk-size line exceeds "
                    + std::to_string(buffer_.max_size()) + " bytes");
  if (ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message
      && is_parse_error(ec))
    return refuse(state_errc::bad_request,
                  "malformed HTTP request: " + ec.message());
  // end of stream, timeout (idle or too slow), reset: nothing to answer.
  if (ec != bhttp::error::end_of_stream)
    spdlog::debug("http: connection closed: {}", ec.message());
  close_now();
}

void session::serve() {
  // A chunked body's trailer fields, which a handler would take for header
  // fields (an If-Match sent last), never get here: the parser refuses the
  // first (bounded_parser.hpp).
  auto& req = parser_->get();
  method_ = method_of(req.method_string());
  version_ = req.version();
  keep_alive_ = req.keep_alive();
  if (ctx_.limits.access_log || spdlog::should_log(spdlog::level::debug))
    target_ = std::string{req.target()};
  // No read timeout while the store works: request_timeout bounds that.
  stream_.expires_never();
  phase_ = phase::serving;
  auto seq = ++seq_;
  awaiting_ = true;
  calls_.clear();
  {
    // Handlers ask the store synchronously in serve(): the scope records
    // those calls, so the deadline can cancel them.
    store_bridge::call_scope scope{ctx_.bridge, calls_};
    ctx_.handlers.serve(req, std::move(match_),
                        std::make_shared<request_sink>(shared_from_this(),
                                                       seq));
  }
  if (!awaiting_ || seq != seq_)
    return; // answered at once
  arm_deadline(seq);
}

void session::arm_deadline(uint64_t seq) {
  // Re-arming cancels the wait of the step before (operation_aborted).
  deadline_.expires_after(ctx_.limits.request_timeout);
  deadline_.async_wait(beast::bind_front_handler(&session::on_deadline,
                                                 shared_from_this(), seq));
}

void session::on_deadline(uint64_t seq, beast::error_code ec) {
  if (ec || !awaiting_ || seq != seq_)
    return;
  auto why = "the store did not answer within http.request_timeout="
             + std::to_string(ctx_.limits.request_timeout.count()) + "ms";
  if (streaming_)
    return break_stream(why);
  // Ends the calls: their callbacks (and this connection) are let go now,
  // their slots when the store's replies come (store_bridge::cancel); a
  // reply already on its way is dropped by the seq check.
  cancel_calls();
  send(error_response(state_errc::timeout, why));
}

void session::run_step(const std::function<void()>& step) {
  // A request of many steps starts many calls: forget those that are over,
  // so the list holds about the ones still waiting, not every one made.
  if (calls_.size() >= 256)
    calls_.erase(std::remove_if(calls_.begin(), calls_.end(),
                                [this](uint64_t id) {
                                  return !ctx_.bridge.pending(id);
                                }),
                 calls_.end());
  store_bridge::call_scope scope{ctx_.bridge, calls_};
  step();
}

void session::cancel_calls() {
  for (auto id : calls_)
    ctx_.bridge.cancel(id);
  calls_.clear();
}

void session::reply(uint64_t seq, response_t res) {
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), seq,
                                         res = std::move(res)]() mutable {
    if (!self->awaiting_ || seq != self->seq_)
      return; // already answered with 504
    if (self->streaming_)
      return self->break_stream(res.body());
    self->deadline_.cancel();
    // The call that answered is over (cancelling it is a no-op); any other
    // the handler started is not needed any more.
    self->cancel_calls();
    self->send(std::move(res));
  });
}

void session::resume(uint64_t seq, std::function<void()> step) {
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), seq,
                                         step = std::move(step)] {
    if (!self->awaiting_ || seq != self->seq_)
      return; // already answered with 504
    // Recorded like the calls serve() started, so the deadline cancels
    // these too.
    self->run_step(step);
  });
}

void session::next_step(uint64_t seq, std::function<void()> step) {
  // Posted, not dispatched: a long request yields the io thread to the
  // other connections between its steps.
  net::post(stream_.get_executor(), [self = shared_from_this(), seq,
                                     step = std::move(step)] {
    if (!self->awaiting_ || seq != self->seq_)
      return;
    self->arm_deadline(seq);
    self->run_step(step);
  });
}

// -- streamed answers ------------------------------------------------------------------

void session::open_stream(uint64_t seq, response_t head) {
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), seq,
                                         head = std::move(head)]() mutable {
    if (!self->awaiting_ || seq != self->seq_ || self->streaming_)
      return;
    self->stream_head_ = std::move(head);
    // A stream's handler is done with the request's body (none of them
    // reads one): held and counted for the stream's life, a watch sent
    // with a body kept its bytes out of the budget for hours.
    if (self->parser_)
      std::string{}.swap(self->parser_->get().body());
    self->release_body();
  });
}

void session::reserve_chunk(uint64_t seq, size_t chunk_bytes,
                            std::function<void()> step) {
  // Posted, as next_step: a long stream yields the io thread between steps.
  net::post(stream_.get_executor(), [self = shared_from_this(), seq,
                                     chunk_bytes, step = std::move(step)] {
    if (!self->awaiting_ || seq != self->seq_)
      return;
    self->next_stream_step(seq, step,
                           std::chrono::steady_clock::now()
                             + self->ctx_.limits.read_timeout,
                           first_room_poll, chunk_bytes);
  });
}

void session::stream_chunk(uint64_t seq, std::string data,
                           std::function<void()> then) {
  std::vector<std::shared_ptr<const std::string>> pieces;
  if (!data.empty())
    pieces.push_back(std::make_shared<const std::string>(std::move(data)));
  stream_pieces(seq, std::move(pieces), std::move(then));
}

void session::stream_pieces(
  uint64_t seq, std::vector<std::shared_ptr<const std::string>> pieces,
  std::function<void()> then) {
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), seq,
                                         pieces = std::move(pieces),
                                         then = std::move(then)]() mutable {
    // This step is over; the write has its own timeouts (write_chunk_part).
    if (!self->begin_stream_write(seq))
      return;
    if (self->method_ == method_id::head)
      return self->finish_stream(); // the headers only
    self->write_chunk(seq, std::move(pieces), std::move(then));
  });
}

// The chunk exists already: it is counted and written at once (holding it
// back would not free its memory). What waits instead is the making of the
// next one (on_chunk), so a stream passes the budget by one chunk at most.
void session::write_chunk(
  uint64_t seq, std::vector<std::shared_ptr<const std::string>> pieces,
  std::function<void()> then) {
  size_t size = 0;
  for (auto& p : pieces)
    size += p->size();
  if (chunked_ && size > 0) {
    // An empty chunk would be the terminating one: nothing to frame.
    char size_line[24];
    auto n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", size);
    wire_.append(size_line, static_cast<size_t>(n));
  }
  streamed_bytes_ += size;
  chunk_ = std::move(pieces);
  reserved_ = 0; // the chunk takes the place reserved for it
  count_held();
  chunk_buffers_.clear();
  chunk_buffers_.push_back(net::buffer(wire_));
  for (auto& p : chunk_)
    chunk_buffers_.push_back(net::buffer(*p));
  if (chunked_ && size > 0)
    chunk_buffers_.push_back(net::buffer("\r\n", 2));
  write_chunk_part(seq, std::move(then));
}

// A deadline over the whole chunk (up to http.max_reply_bytes of values)
// cut off a reader on a slow link while it was reading: each part the
// socket takes has read_timeout of its own, so only a reader that stops
// reading for that long loses the stream.
void session::write_chunk_part(uint64_t seq, std::function<void()> then) {
  if (!consume_chunk(0)) // nothing to write (an empty chunk over HTTP/1.0)
    return net::post(stream_.get_executor(),
                     [self = shared_from_this(), seq, then = std::move(then)] {
                       self->on_chunk(seq, then, {}, 0);
                     });
  stream_.expires_after(ctx_.limits.read_timeout);
  stream_.async_write_some(
    chunk_buffers_,
    [self = shared_from_this(), seq,
     then = std::move(then)](beast::error_code ec, size_t n) mutable {
      if (!ec && self->consume_chunk(n))
        return self->write_chunk_part(seq, std::move(then));
      self->on_chunk(seq, then, ec, n);
    });
}

bool session::consume_chunk(size_t bytes) {
  // A few buffers (the framing, the pieces, the chunk's end): erasing the
  // written ones from the front costs less than keeping a second list.
  auto first = chunk_buffers_.begin();
  while (first != chunk_buffers_.end() && bytes >= first->size()) {
    bytes -= first->size();
    ++first;
  }
  chunk_buffers_.erase(chunk_buffers_.begin(), first);
  if (chunk_buffers_.empty())
    return false;
  chunk_buffers_.front() += bytes;
  return true;
}

void session::on_chunk(uint64_t seq, const std::function<void()>& then,
                       beast::error_code ec, size_t) {
  chunk_.clear(); // a large chunk's memory goes back at once
  count_held();
  if (!awaiting_ || seq != seq_)
    return;
  if (ec) {
    // The client left, or read nothing for read_timeout: the loop stops
    // here, nothing more is asked of the store.
    spdlog::debug("http: stream ended by the connection after {} bytes: {} "
                  "request_id={}",
                  streamed_bytes_, ec.message(), request_id_);
    awaiting_ = false;
    return close_now();
  }
  next_stream_step(seq, then,
                   std::chrono::steady_clock::now() + ctx_.limits.read_timeout,
                   first_room_poll);
}

void session::next_stream_step(uint64_t seq, const std::function<void()>& then,
                               std::chrono::steady_clock::time_point give_up,
                               std::chrono::milliseconds poll,
                               size_t chunk_bytes) {
  if (streaming_ && ctx_.stopping.load(std::memory_order_relaxed))
    return break_stream("the service is stopping");
  if (reserve_room(chunk_bytes)) {
    arm_deadline(seq);
    return run_step(then);
  }
  // Not started: refused before the handler asks the store for anything.
  // An export made its first chunk (a batch-get's values, up to
  // http.max_reply_bytes in base64) before the budget was looked at, and a
  // HEAD threw it away: 60 exports of two 16 MB values took the service's
  // peak memory from 144 MiB to 1.2 GiB. Found by review.
  if (!streaming_) {
    deadline_.cancel();
    cancel_calls();
    return refuse_stream(chunk_bytes);
  }
  if (std::chrono::steady_clock::now() >= give_up)
    return break_stream("no room in http.max_pending_reply_bytes="
                        + std::to_string(ctx_.replies.limit())
                        + " for the stream's next chunk within "
                          "http.read_timeout");
  // Polled, backing off: room frees when another connection's reader
  // reads, which nothing here is told of.
  deadline_.expires_after(poll);
  deadline_.async_wait([self = shared_from_this(), seq, then, give_up, poll,
                        chunk_bytes](beast::error_code ec) {
    if (ec || !self->awaiting_ || seq != self->seq_)
      return;
    self->next_stream_step(seq, then, give_up,
                           std::min(poll * 2, last_room_poll), chunk_bytes);
  });
}

bool session::reserve_room(size_t chunk_bytes) {
  if (ctx_.replies.spent(held_))
    return false;
  if (chunk_bytes == 0) // a chunk of unknown size (a watch's events)
    return true;
  auto wanted = held_ - reserved_ + chunk_bytes;
  if (!ctx_.replies.try_resize(held_, wanted))
    return false;
  held_ = wanted;
  reserved_ = chunk_bytes;
  return true;
}

bool session::begin_stream_write(uint64_t seq) {
  if (!awaiting_ || seq != seq_)
    return false;
  deadline_.cancel();
  cancel_calls();
  wire_.clear();
  if (!streaming_) {
    // Once it has started (its status is sent) its chunks can only wait
    // for room: a stream starts only while the budget has some, or when
    // its first chunk had room reserved (reserve_chunk).
    if (reserved_ == 0 && ctx_.replies.spent(held_)) {
      refuse_stream(0);
      return false;
    }
    start_stream();
  }
  return true;
}

void session::refuse_stream(size_t chunk_bytes) {
  stream_head_.reset();
  keep_alive_ = false;
  send(refused_reply(0, chunk_bytes));
}

void session::end_stream(uint64_t seq, std::string trailer_fields) {
  net::dispatch(stream_.get_executor(),
                [self = shared_from_this(), seq,
                 trailer_fields = std::move(trailer_fields)] {
                  if (self->begin_stream_write(seq))
                    self->finish_stream(trailer_fields);
                });
}

void session::finish_stream(const std::string& trailer_fields) {
  reserved_ = 0; // counted again (count_held) once the last write is done
  if (method_ != method_id::head && chunked_)
    wire_ += "0\r\n" + trailer_fields + "\r\n";
  awaiting_ = false;
  access_log(200, streamed_bytes_, {});
  stream_.expires_after(ctx_.limits.read_timeout);
  net::async_write(stream_, net::buffer(wire_),
                   beast::bind_front_handler(&session::on_write,
                                             shared_from_this(),
                                             stream_close_));
}

void session::abort_stream(uint64_t seq, std::string why) {
  net::dispatch(stream_.get_executor(), [self = shared_from_this(), seq,
                                         why = std::move(why)] {
    if (!self->awaiting_ || seq != self->seq_)
      return;
    if (self->streaming_)
      return self->break_stream(why);
    self->deadline_.cancel();
    self->cancel_calls();
    self->send(error_response(state_errc::backend_error, why));
  });
}

void session::start_stream() {
  auto res = stream_head_ ? std::move(*stream_head_) : response_t{};
  stream_head_.reset();
  streaming_ = true;
  res.set(request_id_field, request_id());
  ctx_.stats.count(route_, method_, res.result_int());
  ctx_.stats.observe(route_, method_,
                     std::chrono::steady_clock::now() - started_);
  chunked_ = version_ >= 11;
  stream_close_ = !keep_alive_ || !chunked_ || phase_ == phase::closing
                  || ctx_.stopping.load(std::memory_order_relaxed);
  res.version(version_);
  res.keep_alive(!stream_close_);
  res.set(bhttp::field::server, "solver-state");
  res.set(bhttp::field::date, http_date_now());
  if (chunked_)
    res.set(bhttp::field::transfer_encoding, "chunked");
  res.body().clear();
  serialize(res);
  watch_for_close();
}

void session::watch_for_close() {
  // A full buffer (a client that sent that much during one stream) is
  // read no further: the rest waits in the socket, and the client's close
  // is noticed by a write again.
  if (watching_close_ || buffer_.size() >= buffer_.max_size())
    return;
  watching_close_ = true;
  // On the socket itself, not through stream_: its timeout, armed for each
  // write, would end a read that is meant to wait for good.
  stream_.socket().async_read_some(
    buffer_.prepare(1),
    beast::bind_front_handler(&session::on_close_watch, shared_from_this()));
}

void session::on_close_watch(beast::error_code ec, size_t bytes) {
  watching_close_ = false;
  buffer_.commit(bytes);
  if (after_close_watch_) {
    auto next = std::move(after_close_watch_);
    after_close_watch_ = nullptr;
    return next();
  }
  // Closed here, or the stream is over and its last write on its way: the
  // read of the next request sees what came.
  if (ec == net::error::operation_aborted || !awaiting_ || !streaming_)
    return;
  if (ec) {
    spdlog::debug("http: stream ended by the connection (the client closed "
                  "it) after {} bytes: {} request_id={}",
                  streamed_bytes_, ec.message(), request_id_);
    awaiting_ = false;
    return close_now();
  }
  watch_for_close();
}

void session::break_stream(const std::string& why) {
  deadline_.cancel();
  cancel_calls();
  awaiting_ = false;
  spdlog::warn("http: {} {} stream broken off after {} bytes, the client "
               "sees a truncated answer: {} request_id={}",
               label_of(method_), label_of(route_), streamed_bytes_, why,
               request_id_);
  close_now();
}

void session::send(response_t res) {
  awaiting_ = false;
  reserved_ = 0; // reserve_reply counts the answer in place of all held
  release_body(); // the handler is done with it
  if (!reserve_reply(method_ == method_id::head ? 0 : res.body().size()))
    res = refused_reply(res.body().size());
  res.set(request_id_field, request_id());
  auto status = res.result_int();
  ctx_.stats.count(route_, method_, status);
  ctx_.stats.observe(route_, method_,
                     std::chrono::steady_clock::now() - started_);
  access_log(res);
  bool close = !keep_alive_ || phase_ == phase::closing
               || ctx_.stopping.load(std::memory_order_relaxed);
  res.version(version_);
  res.keep_alive(!close);
  res.set(bhttp::field::server, "solver-state");
  res.set(bhttp::field::date, http_date_now());
  res.prepare_payload();
  if (status == 204 || status == 304)
    res.erase(bhttp::field::content_length); // RFC 9110: no length on these
  // HEAD: GET's headers, Content-Length of the body GET would send, and no
  // body (RFC 9110 9.3.2).
  if (method_ == method_id::head)
    res.body().clear();
  serialize(res);
  res = {}; // its body is in wire_ now: not held twice while it is written
  count_held();
  stream_.expires_after(ctx_.limits.read_timeout);
  net::async_write(stream_, net::buffer(wire_),
                   beast::bind_front_handler(&session::on_write,
                                             shared_from_this(), close));
}

bool session::reserve_reply(size_t body_bytes) {
  // The status line and header fields: a few hundred bytes.
  constexpr size_t head_bytes = 1024;
  auto wanted = body_bytes + head_bytes;
  if (!ctx_.replies.try_resize(held_, wanted))
    return false;
  held_ = wanted;
  return true;
}

response_t session::refused_reply(size_t bytes, size_t chunk_bytes) const {
  auto what = bytes != 0
                ? "this answer of " + std::to_string(bytes)
                    + " bytes would pass it"
              : chunk_bytes != 0
                ? "a stream does not start (its chunks take up to "
                    + std::to_string(chunk_bytes) + " bytes)"
                : std::string{"a stream does not start"};
  auto res = error_response(
    state_errc::backend_unavailable,
    "answers waiting for their clients to read them hold "
      + std::to_string(ctx_.replies.held())
      + " bytes (http.max_pending_reply_bytes="
      + std::to_string(ctx_.replies.limit()) + "): " + what
      + "; retry shortly");
  res.set(bhttp::field::retry_after, "1");
  return res;
}

void session::count_held() {
  // The buffer a connection keeps between answers is not counted
  // (http.max_connections bounds those). A text several watch streams
  // share is counted by each of them: more than it takes, never less.
  auto now = wire_.capacity() > reply_budget::kept_buffer ? wire_.capacity()
                                                          : 0;
  for (auto& piece : chunk_)
    now += piece->size();
  now += reserved_;
  ctx_.replies.resize(held_, now);
  held_ = now;
}

void session::release_wire() {
  // Kept for the next answer only when small: an idle keep-alive
  // connection holds at most this (10,000 of them 80 MiB).
  if (wire_.capacity() > reply_budget::kept_buffer)
    std::string{}.swap(wire_);
  count_held();
}

void session::serialize(const response_t& res) {
  // One flat buffer and one plain write: Beast's generic serializer costs
  // more than the copy of a small response (perf: a few percent per request).
  wire_.clear();
  wire_ += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  wire_ += std::to_string(res.result_int());
  wire_ += ' ';
  auto reason = res.reason();
  wire_.append(reason.data(), reason.size());
  wire_ += "\r\n";
  for (auto& f : res) {
    auto name = f.name_string();
    auto value = f.value();
    wire_.append(name.data(), name.size());
    wire_ += ": ";
    wire_.append(value.data(), value.size());
    wire_ += "\r\n";
  }
  wire_ += "\r\n";
  wire_ += res.body();
}

void session::on_write(bool close, beast::error_code ec, size_t) {
  release_wire();
  if (ec)
    return close_now();
  if (watching_close_) {
    // A stream's last write: its read for the client's close goes first
    // (the only operation left on the socket, so cancel() stops it alone).
    // `this` alone: the pending read's handler holds the session.
    after_close_watch_ = [this, close] { close ? linger() : do_read(); };
    beast::error_code ignored;
    stream_.socket().cancel(ignored);
    return;
  }
  if (close)
    return linger();
  do_read();
}

void session::refuse(state_errc code, const std::string& message) {
  spdlog::debug("http: refusing request: {} request_id={}", message,
                request_id());
  refuse(error_response(code, message), linger_budget_);
}

void session::refuse_header_limit() {
  auto limit = std::to_string(ctx_.limits.header_limit);
  auto overflow = parser_->overflowed();
  if (overflow == bounded_request_parser::overflow::trailer)
    return refuse(state_errc::bad_request,
                  "trailer fields after a chunked body are not accepted");
  // Refused while its fields came in: the answer carries the client's
  // X-Request-Id when the fields parsed so far hold it.
  if (overflow != bounded_request_parser::overflow::none)
    request_id_ = client_request_id();
  if (overflow == bounded_request_parser::overflow::fields)
    return refuse_oversized(431, "more than "
                                   + std::to_string(
                                     ctx_.limits.max_header_fields)
                                   + " header fields");
  // A request line alone over the limit is a URI too long, which RFC 9112
  // 3 answers with 414, not with 431. The parser knows the target once it
  // parsed the request line, but it waits for the whole header to parse a
  // line that did not come whole in the first read: then the buffer still
  // holds the request line, and its end tells.
  if (parser_->get().target().empty()) {
    auto held = static_cast<const char*>(buffer_.data().data());
    auto text = std::string_view{held, buffer_.size()};
    auto line_end = text.find("\r\n");
    if (line_end == std::string_view::npos
        || line_end >= ctx_.limits.header_limit)
      return refuse_oversized(414, "request line exceeds " + limit + " bytes");
  }
  refuse_oversized(431, "request header exceeds " + limit + " bytes");
}

void session::refuse_oversized(unsigned status, const std::string& message) {
  spdlog::debug("http: refusing request: {} request_id={}", message,
                request_id());
  refuse(error_response(status, state_errc::bad_request, message),
         linger_budget_);
}

std::string_view session::leading_method() const {
  // A request line the parser has not parsed yet (it parses one that came
  // whole in the first read at once, any other with the whole header) is
  // still in the buffer, so a request refused while it came in (414, 431,
  // a stop) starts there: its method is the token before the first space,
  // counted by the metrics under its own label rather than "other".
  auto held = static_cast<const char*>(buffer_.data().data());
  auto text = std::string_view{held, buffer_.size()};
  auto space = text.substr(0, 8).find(' ');
  return space == std::string_view::npos ? std::string_view{}
                                         : text.substr(0, space);
}

void session::refuse(response_t res, size_t linger_budget) {
  phase_ = phase::closing;
  keep_alive_ = false;
  linger_budget_ = linger_budget;
  if (parser_ && parser_->is_header_done()) {
    method_ = method_of(parser_->get().method_string());
    version_ = parser_->get().version();
  } else if (parser_ && !parser_->get().target().empty()) {
    method_ = method_of(parser_->get().method_string()); // its line parsed
  } else {
    method_ = method_of(leading_method());
  }
  // Nothing more is read into it: its header fields need not stay
  // allocated while the connection lingers.
  parser_.reset();
  send(std::move(res));
}

void session::linger() {
  phase_ = phase::closing;
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  if (ec)
    return close_now();
  buffer_.consume(buffer_.size());
  if (ctx_.stopping.load(std::memory_order_relaxed))
    stream_.expires_after(stop_linger_time);
  else
    stream_.expires_after(linger_time);
  stream_.async_read_some(buffer_.prepare(64 * 1024),
                          beast::bind_front_handler(&session::on_linger,
                                                    shared_from_this()));
}

void session::on_linger(beast::error_code ec, size_t bytes) {
  lingered_ += bytes;
  if (ec || lingered_ > linger_budget_)
    return close_now();
  stream_.async_read_some(buffer_.prepare(64 * 1024),
                          beast::bind_front_handler(&session::on_linger,
                                                    shared_from_this()));
}

void session::close_now() {
  phase_ = phase::closing;
  open_.store(false, std::memory_order_relaxed);
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

void session::access_log(const response_t& res) const {
  access_log(res.result_int(),
             method_ == method_id::head ? 0 : res.body().size(), res.body());
}

void session::access_log(unsigned status, size_t bytes,
                         std::string_view detail) const {
  auto now = std::chrono::steady_clock::now();
  uint64_t left_out = 0;
  if (status >= 500 && server_error_lines.admit(now, left_out))
    spdlog::warn("http: {} {} -> {} request_id={} {}{}", label_of(method_),
                 label_of(route_), status, request_id_, detail,
                 left_out == 0 ? std::string{}
                               : " (" + std::to_string(left_out)
                                   + " more 5xx answers not logged)");
  auto level = ctx_.limits.access_log ? spdlog::level::info
                                      : spdlog::level::debug;
  if (!spdlog::should_log(level))
    return;
  auto micros
    = std::chrono::duration_cast<std::chrono::microseconds>(now - started_)
        .count();
  spdlog::log(level,
              "http: access client={} method={} target=\"{}\" route={} "
              "status={} bytes={} micros={} request_id={}",
              client_, label_of(method_), target_, label_of(route_), status,
              bytes, micros, request_id_);
}

} // namespace solver_state::gateway
