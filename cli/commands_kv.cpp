// get, put, del: one key each (del --prefix: every key under a prefix).

#include <unistd.h>


#include <boost/json.hpp>

#include "cli/answer_json.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/read_input.hpp"
#include "cli/reply_failure.hpp"
#include "cli/request_parts.hpp"
#include "util/base64.hpp"

namespace solver_state::cli {

namespace {

failure not_found(const std::string& key) {
  return {exit_not_found, "not_found", key + ": not found"};
}

/// After a 412 on a write or delete with --if-match: was the key absent
/// (exit_not_found) or at another version (exit_conflict)? The service
/// answers 412 for both; a HEAD tells them apart. A HEAD answer has no body
/// to tell an absent key from a wrong URL, but the 412 of the same URL
/// just came from the service's key route.
failure if_match_failure(context& cx, const std::string& key,
                         const http_reply& refusal) {
  auto probe = cx.http.send("HEAD", state_target(key));
  if (probe && probe->status == 404)
    return not_found(key);
  auto f = failure_of(refusal);
  f.message = key + ": " + f.message;
  return f;
}

/// Adds the If-Match header of --if-match (when given) to `headers`; the
/// failure when the tag is not one.
maybe_failure add_if_match(const std::string* if_match,
                           header_list& headers) {
  if (!if_match)
    return {};
  auto h = if_match_header(*if_match);
  if (!h)
    return h.error();
  headers.emplace_back("If-Match", *h);
  return {};
}

} // namespace

int run_get(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 1, 1, "get KEY"))
    return report(*f, cx.json);
  const auto& key = args.positionals[0];
  if (auto f = check_key(key))
    return report(*f, cx.json);
  auto r = cx.http.send("GET", state_target(key));
  if (!r)
    return report(r.error(), cx.json);
  if (is_absent_key(*r))
    return report(not_found(key), cx.json);
  if (r->status != 200)
    return report(failure_of(*r), cx.json);
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc["key"] = key;
    doc["value"] = base64_encode(r->body);
    doc["etag"] = r->header("etag");
    written = write_json(doc);
  } else {
    written = write_stdout(r->body);
    // On a terminal only, so the prompt does not stick to the value; a
    // pipe or a file gets the bytes exactly.
    if (!written && isatty(STDOUT_FILENO) && !r->body.empty()
        && r->body.back() != '\n')
      written = write_stdout("\n");
  }
  if (!written)
    written = flush_stdout();
  return written ? report(*written, cx.json) : exit_ok;
}

int run_put(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 1, 2, "put KEY [FILE|-]"))
    return report(*f, cx.json);
  const auto& key = args.positionals[0];
  if (auto f = check_key(key))
    return report(*f, cx.json);
  header_list headers;
  auto* if_match = args.value("--if-match");
  bool create_only = args.has("--if-none-match");
  if (if_match && create_only)
    return report(usage_failure("--if-match and --if-none-match exclude "
                                "each other"),
                  cx.json);
  if (auto f = add_if_match(if_match, headers))
    return report(*f, cx.json);
  if (create_only)
    headers.emplace_back("If-None-Match", "*");
  auto target = state_target(key);
  if (auto* ttl = args.value("--ttl")) {
    auto seconds = parse_count("--ttl", *ttl, 0, 315'360'000);
    if (!seconds)
      return report(seconds.error(), cx.json);
    target += "?ttl_seconds=" + std::to_string(*seconds);
  }
  auto value = read_input(
    args.positionals.size() > 1 ? args.positionals[1] : "-", "value");
  if (!value)
    return report(value.error(), cx.json);
  auto r = cx.http.send("PUT", target, std::move(*value), headers);
  if (!r)
    return report(r.error(), cx.json);
  if (r->status == 412 && if_match)
    return report(if_match_failure(cx, key, *r), cx.json);
  if (r->status == 412 && create_only)
    return report({exit_conflict, "version_mismatch",
                   key + ": already exists (--if-none-match)"},
                  cx.json);
  if (r->status < 200 || r->status > 299)
    return report(failure_of(*r), cx.json);
  auto etag = r->header("etag");
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc["key"] = key;
    doc["etag"] = etag;
    written = write_json(doc);
  } else {
    written = write_stdout(etag + "\n");
  }
  if (!written)
    written = flush_stdout();
  return written ? report(*written, cx.json) : exit_ok;
}

namespace {

/// The count of a {"deleted":N} answer, or why the answer is not one.
expected<uint64_t> deleted_count(const http_reply& r) {
  boost::json::error_code ec;
  auto doc = parse_answer(r.body, ec);
  auto* obj = ec ? nullptr : doc.if_object();
  auto* n = obj ? obj->if_contains("deleted") : nullptr;
  if (n && n->is_uint64())
    return n->as_uint64();
  if (n && n->is_int64() && n->as_int64() >= 0)
    return static_cast<uint64_t>(n->as_int64());
  return failure{exit_server_error, "bad_answer",
                 "the service's answer is not what this client expects: "
                 "no \"deleted\" count"};
}

/// del --prefix PREFIX: one request; the service deletes in steps and
/// answers once with the total.
int run_del_prefix(context& cx, const parsed_args& args,
                   const std::string& prefix) {
  if (auto f = check_arity(args, 0, 0, "del --prefix PREFIX"))
    return report(*f, cx.json);
  if (args.has("--if-match"))
    return report(usage_failure("--if-match applies to one key, not to "
                                "--prefix"),
                  cx.json);
  if (prefix.empty())
    return report(usage_failure("--prefix must not be empty: deleting "
                                "every key is refused"),
                  cx.json);
  auto r = cx.http.send("DELETE", prefix_target(prefix));
  if (!r)
    return report(r.error(), cx.json);
  if (r->status != 200)
    return report(failure_of(*r), cx.json);
  auto count = deleted_count(*r);
  if (!count)
    return report(count.error(), cx.json);
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc["prefix"] = prefix;
    doc["deleted"] = *count;
    written = write_json(doc);
  } else {
    written = write_stdout(std::to_string(*count) + "\n");
  }
  if (!written)
    written = flush_stdout();
  return written ? report(*written, cx.json) : exit_ok;
}

} // namespace

int run_del(context& cx, const parsed_args& args) {
  if (auto* prefix = args.value("--prefix"))
    return run_del_prefix(cx, args, *prefix);
  if (auto f = check_arity(args, 1, 1, "del KEY [--if-match ETAG]"))
    return report(*f, cx.json);
  const auto& key = args.positionals[0];
  if (auto f = check_key(key))
    return report(*f, cx.json);
  header_list headers;
  auto* if_match = args.value("--if-match");
  if (auto f = add_if_match(if_match, headers))
    return report(*f, cx.json);
  auto r = cx.http.send("DELETE", state_target(key), {}, headers);
  if (!r)
    return report(r.error(), cx.json);
  if (r->status == 412 && if_match)
    return report(if_match_failure(cx, key, *r), cx.json);
  if (r->status < 200 || r->status > 299)
    return report(failure_of(*r), cx.json);
  if (cx.json) {
    boost::json::object doc;
    doc["key"] = key;
    doc["deleted"] = true;
    if (auto f = write_json(doc))
      return report(*f, cx.json);
  }
  if (auto f = flush_stdout())
    return report(*f, cx.json);
  return exit_ok;
}

} // namespace solver_state::cli
