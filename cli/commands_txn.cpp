// txn: several writes all or nothing, through POST /v1/state/transaction.

#include <boost/json.hpp>

#include "cli/answer_json.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/read_input.hpp"
#include "cli/reply_failure.hpp"

namespace solver_state::cli {

namespace {

/// Refuses, before sending, what is not even the body's shape; the service
/// checks every operation itself.
maybe_failure check_shape(const std::string& body, const std::string& name) {
  boost::json::error_code ec;
  auto doc = boost::json::parse(body, ec);
  if (ec)
    return usage_failure(name + ": not JSON: " + ec.message());
  auto* obj = doc.if_object();
  auto* ops = obj ? obj->if_contains("operations") : nullptr;
  if (!ops || !ops->is_array())
    return usage_failure(name + ": must be {\"operations\":[...]} (see "
                         "docs/api.md)");
  return {};
}

} // namespace

int run_txn(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 0, 1, "txn [FILE|-]"))
    return report(*f, cx.json);
  auto source = args.positionals.empty() ? std::string{"-"}
                                         : args.positionals[0];
  auto body = read_input(source, "body");
  if (!body)
    return report(body.error(), cx.json);
  auto name = source == "-" ? std::string{"stdin"} : source;
  if (auto f = check_shape(*body, name))
    return report(*f, cx.json);
  auto r = cx.http.send("POST", "/v1/state/transaction", *body,
                        {{"Content-Type", "application/json"}});
  if (!r)
    return report(r.error(), cx.json);
  if (r->status != 200)
    return report(failure_of(*r), cx.json);
  boost::json::error_code ec;
  auto answer = boost::json::parse(r->body, ec);
  auto* obj = ec ? nullptr : answer.if_object();
  auto* etags = obj ? obj->if_contains("etags") : nullptr;
  if (!etags || !etags->is_object())
    return report(odd_answer("a transaction answer without etags"), cx.json);
  maybe_failure written;
  if (cx.json) {
    written = write_json(*obj);
  } else {
    auto write_etags = [&](const boost::json::value* tags, bool encoded) {
      if (!tags || !tags->is_object())
        return;
      for (auto& [key, tag] : tags->as_object()) {
        if (written)
          return;
        auto* text = tag.if_string();
        // "etags_base64" names keys that are not UTF-8 by their base64.
        std::string name{key};
        if (encoded)
          name = base64_decode(name).value_or(name);
        written = write_stdout(name + "\t"
                               + (text ? std::string{*text} : "") + "\n");
      }
    };
    write_etags(etags, false);
    write_etags(obj->if_contains("etags_base64"), true);
  }
  if (!written)
    written = flush_stdout();
  return written ? report(*written, cx.json) : exit_ok;
}

} // namespace solver_state::cli
