// GET /v1/export: a loop of pages. List a page of keys, batch-get them
// (again for the keys a reply left unprocessed), write the lines as one
// chunk, and only once the socket has taken it ask for the next page: the
// server holds one page whatever the store's size, and a slow reader slows
// the loop instead of filling memory. Each chunk's room is reserved in the
// reply budget (http.max_pending_reply_bytes) before the store is asked for
// its values (reply_sink::reserve_chunk): an export that cannot start is
// refused before its first store call, and a running one waits for room
// rather than making a chunk past the budget. HEAD asks the store nothing.
//
// A value the store cannot read (a damaged value file, a value sealed under
// a key no longer configured) fails its batch. By default that ends the
// export there, cut short (it is not whole). With ?skip_unreadable=true the
// batches ask the store to skip such values (batch_request's
// skip_unreadable): they are left out and named in the log, and their count
// ends the stream in the trailer field X-Unreadable-Skipped: an operator
// still gets a backup of every value the store can read. (A batch that
// fails on such a value all the same, as a cluster's claim during a
// handoff does, is read again key by key.)

#include "http/handlers.hpp"

#include <algorithm>
#include <memory>
#include <utility>

#include <spdlog/spdlog.h>

#include "http/backup_line.hpp"
#include "messages/keys.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"

namespace solver_state::gateway {

namespace {

/// Keys per page: one list and one batch-get (when its values fit
/// max_reply_bytes) per page.
constexpr size_t export_page = 1'000;

/// The trailer field that counts the values ?skip_unreadable=true left out.
constexpr const char* skipped_field = "X-Unreadable-Skipped";

/// Unreadable keys one export names in the log; past it, only counted.
constexpr size_t skipped_keys_logged = 20;

/// The bytes of standard base64 for `n` bytes.
constexpr size_t base64_bytes(size_t n) { return (n + 2) / 3 * 4; }

/// A line's bytes beside its value's base64 and its key: the member names,
/// quotes, an expiry of 13 digits, the padding of the value's base64.
constexpr size_t line_framing = 64;

/// The most a line's key takes: a JSON-escaped key doubles at most (keys
/// have no control bytes: only `"` and `\` are escaped), as key_base64 it
/// grows by a third.
constexpr size_t line_key_bytes = 2 * max_key_bytes;

struct export_params {
  std::string prefix;
  bool skip_unreadable = false;
};

/// One export in progress. Its steps run one at a time: a step starts on
/// the io thread, asks the store once, and the answer's callback (on the
/// CAF thread that answered) ends it by handing the next step to
/// next_step or stream_chunk. Never more than one ask outstanding, so
/// nothing here needs a lock; keep it so.
class export_run : public std::enable_shared_from_this<export_run> {
public:
  export_run(const handler_env& env, sink_ptr sink, export_params params,
             std::string request_id)
    : env_(env), sink_(std::move(sink)),
      skip_unreadable_(params.skip_unreadable),
      request_id_(std::move(request_id)) {
    page_.prefix = std::move(params.prefix);
    page_.limit = static_cast<uint32_t>(
      std::min(export_page, std::max<size_t>(1, env.limits.max_batch_keys)));
  }

  /// The first page, once the reply budget has room for its chunk.
  void start() { next_page(); }

private:
  /// The most a chunk of `keys` lines read by one batch-get takes: a
  /// reply's values (at most http.max_reply_bytes, or one larger value) in
  /// base64, and the lines' keys and framing.
  size_t chunk_bytes(size_t keys) const {
    auto values = std::max(env_.limits.max_reply_bytes,
                           env_.limits.max_value_bytes);
    return base64_bytes(values) + keys * (line_key_bytes + line_framing);
  }

  /// The most a chunk of get_one takes: up to max_value_bytes of lines,
  /// and one more line.
  size_t single_chunk_bytes() const {
    auto value = env_.limits.max_value_bytes;
    return value + base64_bytes(value) + line_key_bytes + line_framing;
  }

  /// Lists the next page once its chunk has room.
  void next_page() {
    auto self = shared_from_this();
    sink_->reserve_chunk(chunk_bytes(page_.limit),
                         [self] { self->list_page(); });
  }

  /// Asks for the page after the last key written.
  void list_page() {
    auto self = shared_from_this();
    auto on_page = [self](caf::expected<key_page> page) {
      if (!page)
        return self->sink_->reply(error_response(page.error()));
      self->more_ = page->more;
      self->keys_ = std::move(page->keys);
      if (!self->keys_.empty()) {
        self->page_.after = self->keys_.back();
        return self->sink_->next_step([self] { self->get_batch(); });
      }
      // Asking again after the same key would get the same page forever.
      if (self->more_)
        return self->sink_->reply(error_response(
          state_errc::backend_error,
          "the store listed an empty page with more keys to come"));
      self->finish();
    };
    if (!env_.bridge.ask<key_page>(env_.store, on_page, list_atom_v, page_))
      sink_->reply(overloaded(env_));
  }

  /// Reads the page's keys not written yet.
  void get_batch() {
    auto self = shared_from_this();
    auto on_batch = [self](caf::expected<batch_reply> r) {
      // With the flag a batch fails on such a value only when a step on
      // its way reads it without skipping: a cluster node's claim of the
      // batch's keys during a handoff fails whole on one. Key by key, only
      // that key's read fails.
      if (!r && is_value_error(r.error()) && self->skip_unreadable_)
        return self->sink_->reserve_chunk(self->single_chunk_bytes(),
                                          [self] { self->get_one(0); });
      if (!r && is_value_error(r.error()))
        return self->sink_->reply(error_response(
          state_errc::backend_error,
          message_of(r.error())
            + " (the export stops here; with skip_unreadable=true it "
              "leaves such values out and exports the rest)"));
      if (!r)
        return self->sink_->reply(error_response(r.error()));
      self->write(std::move(*r));
    };
    if (!env_.bridge.ask<batch_reply>(env_.store, on_batch, batch_get_atom_v,
                                      batch_request{keys_, skip_unreadable_}))
      sink_->reply(overloaded(env_));
  }

  /// The lines of the keys `r` answered, then what comes after them.
  void write(batch_reply r) {
    if (r.entries.size() + r.unprocessed.size() != keys_.size())
      return sink_->reply(error_response(
        state_errc::backend_error,
        "the store answered for "
          + std::to_string(r.entries.size() + r.unprocessed.size()) + " of "
          + std::to_string(keys_.size()) + " keys"));
    std::string chunk;
    for (size_t i = 0; i < r.entries.size(); ++i)
      // Deleted or expired since the listing: not part of the export.
      if (r.entries[i].found())
        append_backup_line(chunk, keys_[i], r.entries[i]);
    for (auto& u : r.unreadable)
      skip(u.key, u.reason);
    keys_ = std::move(r.unprocessed);
    auto self = shared_from_this();
    sink_->stream_chunk(std::move(chunk), [self] { self->go_on(); });
  }

  /// After a chunk: the page's keys left, else the next page, else the end.
  void go_on() {
    auto self = shared_from_this();
    if (!keys_.empty())
      return sink_->reserve_chunk(chunk_bytes(keys_.size()),
                                  [self] { self->get_batch(); });
    if (more_)
      return next_page();
    finish();
  }

  /// A batch that skips unreadable values still failed on one: its keys
  /// are read one at a time from keys_[at] on, lines gathered in one
  /// chunk, written whenever it holds as many bytes as one value may (so
  /// at most about twice that).
  void get_one(size_t at) {
    if (at == keys_.size()) {
      keys_.clear();
      auto self = shared_from_this();
      return sink_->stream_chunk(std::exchange(chunk_, {}),
                                 [self] { self->go_on(); });
    }
    auto self = shared_from_this();
    auto on_entry = [self, at](caf::expected<entry> e) {
      auto& key = self->keys_[at];
      if (e && e->found()) {
        append_backup_line(self->chunk_, key, *e);
      } else if (!e && is_value_error(e.error())) {
        self->skip(key, message_of(e.error()));
      } else if (!e && code_of(e.error()) != state_errc::not_found) {
        return self->sink_->reply(error_response(e.error()));
      } // else deleted or expired since the listing
      if (self->chunk_.size() < self->env_.limits.max_value_bytes)
        return self->sink_->next_step([self, at] { self->get_one(at + 1); });
      self->sink_->stream_chunk(std::exchange(self->chunk_, {}), [self, at] {
        self->sink_->reserve_chunk(self->single_chunk_bytes(),
                                   [self, at] { self->get_one(at + 1); });
      });
    };
    if (!env_.bridge.ask<entry>(owner_of(env_, keys_[at]), on_entry,
                                get_atom_v, keys_[at]))
      sink_->reply(overloaded(env_));
  }

  void skip(const std::string& key, const std::string& why) {
    if (skipped_++ >= skipped_keys_logged)
      return;
    // Keys are bytes: written as in the export's lines, so no key can
    // break the log's lines.
    std::string named, reason;
    append_json_key(named, key);
    append_json_text(reason, as_utf8_text(why));
    spdlog::warn("http: export left out {{{}}}, its value cannot be read: "
                 "\"{}\" request_id={}",
                 named, reason, request_id_);
  }

  void finish() {
    if (!skip_unreadable_)
      return sink_->end_stream();
    if (skipped_ > skipped_keys_logged)
      spdlog::warn("http: export left out {} keys whose values cannot be "
                   "read ({} named above) request_id={}",
                   skipped_, skipped_keys_logged, request_id_);
    sink_->end_stream(std::string{skipped_field} + ": "
                      + std::to_string(skipped_) + "\r\n");
  }

  const handler_env& env_;
  sink_ptr sink_;
  /// The next list request: the prefix, after the last key listed.
  list_request page_;
  /// The keys of the current page still to read and write.
  std::vector<std::string> keys_;
  /// Keys after the current page exist.
  bool more_ = true;
  /// ?skip_unreadable=true, and how many values it left out.
  bool skip_unreadable_;
  size_t skipped_ = 0;
  std::string request_id_;
  /// The lines of a batch read key by key (get_one), not yet written.
  std::string chunk_;
};

/// ?prefix=P&skip_unreadable=true|false; nullopt, having answered 400
/// bad_request, for anything else.
std::optional<export_params> export_params_of(const route_match& m,
                                              const sink_ptr& sink) {
  export_params out;
  for (auto& q : m.query) {
    std::string problem;
    if (q.name == "prefix")
      out.prefix = q.value;
    else if (!read_skip_unreadable(q, out.skip_unreadable, problem))
      problem = "unknown query parameter '" + q.name + "'";
    if (!problem.empty()) {
      sink->reply(error_response(state_errc::bad_request, problem));
      return std::nullopt;
    }
  }
  return out;
}

} // namespace

void export_keys(const handler_env& env, request_t& req, const route_match& m,
                 const sink_ptr& sink) {
  auto params = export_params_of(m, sink);
  if (!params)
    return;
  // Over HTTP/1.0 the body ends when the connection closes, and an export
  // cut short (a lost backend, a stopping service) closes it between two
  // whole lines: the client, or a proxy that relays it as a whole chunked
  // reply, would keep a part of the store as a complete backup. HTTP/1.1's
  // chunked transfer ends with a last chunk only when the export did.
  if (req.version() < 11)
    return sink->reply(error_response(
      state_errc::bad_request,
      "an export needs HTTP/1.1: over HTTP/1.0 an export cut short cannot "
      "be told from a whole one (behind a proxy, have it speak HTTP/1.1 to "
      "the service, e.g. nginx's proxy_http_version 1.1)"));
  auto head = make_response(200, {}, "application/x-ndjson");
  if (params->skip_unreadable)
    head.set(boost::beast::http::field::trailer, skipped_field);
  sink->open_stream(std::move(head));
  // The headers a GET starts with, and no body: nothing to read. A HEAD
  // ran the whole export and threw each chunk away (a batch-get and a list
  // per page, up to http.max_reply_bytes of values at a time). Found by
  // review.
  if (req.method() == boost::beast::http::verb::head)
    return sink->end_stream();
  std::make_shared<export_run>(env, sink, std::move(*params),
                               sink->request_id())
    ->start();
}

} // namespace solver_state::gateway
