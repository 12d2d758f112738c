// Handlers of /v1/state: GET/PUT/DELETE of one key (ETag, conditional
// headers, ttl_seconds), paged listing with cursors, and batch-get.

#include "http/handlers.hpp"

#include <cerrno>
#include <cstdlib>
#include <iterator>

#include "util/base64.hpp"
#include "http/etag.hpp"
#include "http/json_codec.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"

namespace solver_state::gateway {

namespace {

constexpr uint64_t max_ttl_seconds = 10ULL * 365 * 24 * 3600;

/// The value of a list header (If-Match, If-None-Match), or nullptr when
/// absent (an empty value is present). Several field lines of it are one
/// list, joined with commas (RFC 9110 5.3): `If-Match: "1"` and `If-Match:
/// "2"` is `If-Match: "1", "2"`, not the first line alone.
const std::string_view* header_of(const request_t& req, bhttp::field f,
                                  std::string& storage,
                                  std::string_view& value) {
  auto [first, last] = req.equal_range(f);
  if (first == last)
    return nullptr;
  value = first->value();
  if (std::next(first) != last) {
    storage.assign(value.data(), value.size());
    for (auto it = std::next(first); it != last; ++it)
      storage.append(", ").append(it->value().data(), it->value().size());
    value = storage;
  }
  return &value;
}

/// A decimal number in [lo, hi]; nullopt otherwise.
std::optional<uint64_t> parse_uint(const std::string& text, uint64_t lo,
                                   uint64_t hi) {
  if (text.empty() || text.size() > 19
      || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  auto v = std::strtoull(text.c_str(), nullptr, 10);
  if (v < lo || v > hi)
    return std::nullopt;
  return v;
}

void bad_request(const sink_ptr& sink, std::string message) {
  sink->reply(error_response(state_errc::bad_request, message));
}

void ask_or_503(const handler_env& env, bool started, const sink_ptr& sink) {
  if (!started)
    sink->reply(overloaded(env));
}

} // namespace

void get_value(const handler_env& env, request_t& req, const route_match& m,
               std::string key, const sink_ptr& sink) {
  if (reject_query(m, sink))
    return;
  std::string im_joined, inm_joined;
  std::string_view im_text, inm_text;
  // Each "*" or a list of tags; If-Match is compared strongly, If-None-Match
  // weakly (RFC 9110 13.1.1, 13.1.2).
  std::optional<tag_condition> must_match, not_modified;
  auto* im = header_of(req, bhttp::field::if_match, im_joined, im_text);
  if (im && !(must_match = parse_tag_condition(*im)))
    return bad_request(sink, "If-Match must be * or a list of entity tags "
                             "such as \"42\"");
  auto* inm = header_of(req, bhttp::field::if_none_match, inm_joined, inm_text);
  if (inm && !(not_modified = parse_tag_condition(*inm)))
    return bad_request(sink, "If-None-Match must be * or a list of entity "
                             "tags such as \"42\"");
  auto on_result = [sink, must_match = std::move(must_match),
                    not_modified
                    = std::move(not_modified)](caf::expected<entry> e) {
    if (!e)
      return sink->reply(error_response(e.error()));
    if (must_match && !must_match->strong_match(e->version))
      return sink->reply(error_response(state_errc::version_mismatch,
                                        "If-Match does not hold"));
    if (not_modified && not_modified->weak_match(e->version)) {
      auto res = empty_response(304);
      res.set(bhttp::field::etag, format_etag(e->version));
      return sink->reply(std::move(res));
    }
    auto res = make_response(200, std::move(e->value),
                             "application/octet-stream");
    res.set(bhttp::field::etag, format_etag(e->version));
    sink->reply(std::move(res));
  };
  auto& owner = owner_of(env, key);
  ask_or_503(env,
             env.bridge.ask<entry>(owner, on_result, get_atom_v,
                                   std::move(key)),
             sink);
}

namespace {

/// An If-Match the store's condition type cannot say ("*": the key must
/// exist; a list with several tags that could match, or none) is decided
/// in two steps: read the key's current version, check it here, then
/// `write` on condition::matches(that version). That is as good as checking
/// atomically with the write: the write still succeeds only while the key
/// is at the version that satisfied If-Match, and a write in between turns
/// it into 412, an answer an If-Match client must handle anyway. Saying
/// "*" in the store itself would take a new condition kind in messages/,
/// actors/ and every backend.
template <class Write>
void check_then_write(const handler_env& env, std::string key,
                      tag_condition tags, const sink_ptr& sink,
                      Write write) {
  auto on_read = [sink, tags = std::move(tags),
                  write = std::move(write)](caf::expected<entry> e) mutable {
    if (!e && code_of(e.error()) != state_errc::not_found)
      return sink->reply(error_response(e.error()));
    if (!e || !tags.strong_match(e->version))
      return sink->reply(error_response(state_errc::version_mismatch,
                                        "If-Match does not hold"));
    // The write starts from the connection's thread, within the request's
    // deadline, not from this CAF thread.
    sink->resume([write = std::move(write), v = e->version]() mutable {
      write(condition::matches(v));
    });
  };
  auto& owner = owner_of(env, key);
  ask_or_503(env,
             env.bridge.ask<entry>(owner, std::move(on_read), get_atom_v,
                                   std::move(key)),
             sink);
}

/// Runs `write` under the request's precondition `pre`: at once, or once
/// check_then_write read the version of `read_key` (the written key) that
/// If-Match's `*` or tag list needs.
template <class Write>
void write_when(const handler_env& env, precondition& pre,
                std::string read_key, const sink_ptr& sink, Write write) {
  if (pre.check_first)
    return check_then_write(env, std::move(read_key),
                            std::move(*pre.check_first), sink,
                            std::move(write));
  write(pre.cond);
}

} // namespace

void put_value(const handler_env& env, request_t& req, const route_match& m,
               std::string key, const sink_ptr& sink) {
  int64_t ttl_ms = default_ttl;
  for (auto& q : m.query) {
    if (q.name != "ttl_seconds")
      return bad_request(sink, "unknown query parameter '" + q.name + "'");
    auto secs = parse_uint(q.value, 0, max_ttl_seconds);
    if (!secs)
      return bad_request(sink, "ttl_seconds must be a whole number of "
                               "seconds between 0 and "
                                 + std::to_string(max_ttl_seconds) + ", got '"
                                 + q.value + "'");
    ttl_ms = static_cast<int64_t>(*secs) * 1000;
  }
  std::string im_joined, inm_joined;
  std::string_view im_text, inm_text;
  auto pre = write_precondition(
    header_of(req, bhttp::field::if_match, im_joined, im_text),
    header_of(req, bhttp::field::if_none_match, inm_joined, inm_text));
  if (!pre.problem.empty())
    return bad_request(sink, pre.problem);
  auto read_key = pre.check_first ? key : std::string{};
  auto write = [&env, sink,
                sr = set_request{std::move(key), std::move(req.body()), ttl_ms,
                                 {}}](condition cond) mutable {
    sr.cond = cond;
    // RFC 9110 9.3.4: 201 when the PUT created the key, 204 when it
    // replaced a value.
    auto on_result = [sink](caf::expected<write_result> w) {
      if (!w)
        return sink->reply(error_response(w.error()));
      auto res = empty_response(w->created ? 201 : 204);
      res.set(bhttp::field::etag, format_etag(w->version));
      sink->reply(std::move(res));
    };
    auto& owner = owner_of(env, sr.key);
    ask_or_503(env,
               env.bridge.ask<write_result>(owner, on_result, put_atom_v,
                                            std::move(sr)),
               sink);
  };
  write_when(env, pre, std::move(read_key), sink, std::move(write));
}

void delete_value(const handler_env& env, request_t& req,
                  const route_match& m, std::string key,
                  const sink_ptr& sink) {
  if (reject_query(m, sink))
    return;
  std::string im_joined, inm_joined;
  std::string_view im_text, inm_text;
  auto pre = delete_precondition(
    header_of(req, bhttp::field::if_match, im_joined, im_text),
    header_of(req, bhttp::field::if_none_match, inm_joined, inm_text));
  if (!pre.problem.empty())
    return bad_request(sink, pre.problem);
  auto read_key = pre.check_first ? key : std::string{};
  auto write = [&env, sink, dr = delete_request{std::move(key), {}}](
                 condition cond) mutable {
    dr.cond = cond;
    auto on_result = [sink](caf::expected<bool> removed) {
      if (!removed)
        return sink->reply(error_response(removed.error()));
      sink->reply(empty_response(204));
    };
    auto& owner = owner_of(env, dr.key);
    ask_or_503(env,
               env.bridge.ask<bool>(owner, on_result, delete_atom_v,
                                    std::move(dr)),
               sink);
  };
  write_when(env, pre, std::move(read_key), sink, std::move(write));
}

bool read_page_param(const query_param& q, page_params& page,
                     std::string& problem) {
  if (q.name == "limit") {
    auto n = parse_uint(q.value, 1, max_list_page);
    if (!n)
      problem = "limit must be a whole number between 1 and "
                + std::to_string(max_list_page) + ", got '" + q.value + "'";
    else
      page.limit = static_cast<uint32_t>(*n);
    return true;
  }
  if (q.name == "cursor") {
    auto after = base64url_decode(q.value);
    if (!after || after->empty())
      problem = "cursor is not one this service issued";
    else
      page.after = std::move(*after);
    return true;
  }
  return false;
}

std::optional<std::string> next_cursor(bool more,
                                       const std::vector<std::string>& items) {
  if (!more || items.empty())
    return std::nullopt;
  return base64url_encode(items.back());
}

void list_keys(const handler_env& env, request_t&, const route_match& m,
               const sink_ptr& sink) {
  list_request lr;
  page_params page;
  for (auto& q : m.query) {
    std::string problem;
    if (q.name == "prefix")
      lr.prefix = q.value;
    else if (!read_page_param(q, page, problem))
      problem = "unknown query parameter '" + q.name + "'";
    if (!problem.empty())
      return bad_request(sink, problem);
  }
  lr.after = std::move(page.after);
  lr.limit = page.limit;
  auto on_result = [sink](caf::expected<key_page> page) {
    if (!page)
      return sink->reply(error_response(page.error()));
    auto next = next_cursor(page->more, page->keys);
    sink->reply(json_response(200, key_page_body(*page, next)));
  };
  ask_or_503(env,
             env.bridge.ask<key_page>(env.store, on_result, list_atom_v,
                                      std::move(lr)),
             sink);
}

void batch_get(const handler_env& env, request_t& req, const route_match& m,
               const sink_ptr& sink) {
  bool skip_unreadable = false;
  std::string problem;
  for (auto& q : m.query)
    if (!read_skip_unreadable(q, skip_unreadable, problem))
      return bad_request(sink, "unknown query parameter '" + q.name + "'");
    else if (!problem.empty())
      return bad_request(sink, problem);
  auto keys = parse_batch_keys(req.body(), problem, env.limits.max_batch_keys);
  if (!keys)
    return bad_request(sink, problem);
  if (keys->empty())
    return sink->reply(json_response(200, batch_items_body({}, {})));
  // Bounds (key count, duplicates, reply bytes) are the store's, so CAF
  // senders get the same; its bad_request names the problem.
  auto shared_keys = std::make_shared<std::vector<std::string>>(*keys);
  auto on_result = [sink, shared_keys](caf::expected<batch_reply> r) {
    if (!r)
      return sink->reply(error_response(r.error()));
    // A short answer must not turn the missing keys into "absent".
    if (r->entries.size() + r->unprocessed.size() != shared_keys->size())
      return sink->reply(error_response(
        state_errc::backend_error, "the store answered for "
                                     + std::to_string(r->entries.size()
                                                      + r->unprocessed.size())
                                     + " of "
                                     + std::to_string(shared_keys->size())
                                     + " keys"));
    sink->reply(json_response(200, batch_items_body(*shared_keys, *r)));
  };
  ask_or_503(env,
             env.bridge.ask<batch_reply>(env.store, on_result,
                                         batch_get_atom_v,
                                         batch_request{std::move(*keys),
                                                       skip_unreadable}),
             sink);
}

} // namespace solver_state::gateway
