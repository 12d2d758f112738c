// GET /v1/export: a loop of pages. List a page of keys, batch-get them
// (again for the keys a reply left unprocessed), write the lines as one
// chunk, and only once the socket has taken it ask for the next page: the
// server holds one page whatever the store's size, and a slow reader slows
// the loop instead of filling memory.

#include "http/handlers.hpp"

#include <algorithm>
#include <memory>

#include "http/backup_line.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"

namespace solver_state::gateway {

namespace {

/// Keys per page: one list and one batch-get (when its values fit
/// max_reply_bytes) per page.
constexpr size_t export_page = 1'000;

/// One export in progress. Its steps run one at a time, each on the io
/// thread as a step of the request (the store's replies come back through
/// next_step or stream_chunk), so nothing here needs a lock.
class export_run : public std::enable_shared_from_this<export_run> {
public:
  export_run(const handler_env& env, sink_ptr sink, std::string prefix)
    : env_(env), sink_(std::move(sink)) {
    page_.prefix = std::move(prefix);
    page_.limit = static_cast<uint32_t>(
      std::min(export_page, std::max<size_t>(1, env.limits.max_batch_keys)));
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
      self->sink_->end_stream();
    };
    if (!env_.bridge.ask<key_page>(env_.store, on_page, list_atom_v, page_))
      sink_->reply(overloaded(env_));
  }

private:
  /// Reads the page's keys not written yet.
  void get_batch() {
    auto self = shared_from_this();
    auto on_batch = [self](caf::expected<batch_reply> r) {
      if (!r)
        return self->sink_->reply(error_response(r.error()));
      self->write(std::move(*r));
    };
    if (!env_.bridge.ask<batch_reply>(env_.store, on_batch, batch_get_atom_v,
                                      batch_request{keys_}))
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
    keys_ = std::move(r.unprocessed);
    auto self = shared_from_this();
    sink_->stream_chunk(std::move(chunk), [self] {
      if (!self->keys_.empty())
        return self->get_batch();
      if (self->more_)
        return self->list_page();
      self->sink_->end_stream();
    });
  }

  const handler_env& env_;
  sink_ptr sink_;
  /// The next list request: the prefix, after the last key listed.
  list_request page_;
  /// The keys of the current page still to read and write.
  std::vector<std::string> keys_;
  /// Keys after the current page exist.
  bool more_ = true;
};

} // namespace

void export_keys(const handler_env& env, request_t& req, const route_match& m,
                 const sink_ptr& sink) {
  auto prefix = prefix_param(m, sink);
  if (!prefix)
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
  sink->open_stream(make_response(200, {}, "application/x-ndjson"));
  std::make_shared<export_run>(env, sink, std::move(*prefix))->list_page();
}

} // namespace solver_state::gateway
