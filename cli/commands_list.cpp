// ls and batch-get: many keys, over as many requests as the service's
// bounds need (pages of a listing; batches of at most --batch-size keys,
// each asked again for its unprocessed keys). Results are printed as each
// answer arrives, so memory holds one answer, not the whole result.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <unordered_set>

#include <boost/json.hpp>

#include "cli/answer_json.hpp"
#include "cli/commands.hpp"
#include "cli/line_reader.hpp"
#include "cli/output.hpp"
#include "cli/reply_failure.hpp"
#include "cli/request_parts.hpp"
#include "cli/streamed_json_list.hpp"
#include "messages/keys.hpp"
#include "util/base64.hpp"

namespace solver_state::cli {

namespace {

constexpr long long default_page_size = 1000;
constexpr long long max_page_size = 10000;
constexpr long long default_batch_size = 1000;

/// One listing page: its keys and the cursor of the next one.
struct page {
  boost::json::array keys;
  std::optional<std::string> next_cursor;
};

expected<page> read_page(const http_reply& r) {
  if (r.status != 200)
    return failure_of(r);
  boost::json::error_code ec;
  auto doc = parse_answer(r.body, ec);
  if (ec || !doc.is_object())
    return odd_answer("a listing that is not a JSON object");
  auto& obj = doc.as_object();
  auto* keys = obj.if_contains("keys");
  auto* cursor = obj.if_contains("next_cursor");
  if (!keys || !keys->is_array() || !cursor
      || !(cursor->is_null() || cursor->is_string()))
    return odd_answer("a listing without keys and next_cursor");
  page out;
  out.keys = std::move(keys->as_array());
  if (cursor->is_string())
    out.next_cursor = std::string{cursor->as_string()};
  return out;
}

/// The message of a batch-get item the service could not read
/// (?skip_unreadable=true), or nullopt.
std::optional<std::string> unreadable_reason(const boost::json::object& item) {
  auto* error = item.if_contains("error");
  if (!error)
    return std::nullopt;
  auto* message = error->is_object() ? error->as_object().if_contains("message")
                                     : nullptr;
  return message && message->is_string()
           ? std::string{message->as_string()}
           : std::string{"(no message)"};
}

/// One batch-get item: "KEY<TAB>VALUE", "KEY<TAB>(not found)" or
/// "KEY<TAB>(unreadable: WHY)".
std::string human_item(const boost::json::object& item) {
  std::string line = item_key(item).value_or("");
  line += '\t';
  if (auto why = unreadable_reason(item))
    return line + "(unreadable: " + human_value(*why) + ")\n";
  auto& value = item.at("value");
  if (value.is_null())
    return line + "(not found)\n";
  auto bytes = base64_decode(value.as_string().c_str());
  return line + (bytes ? human_value(*bytes) : "(undecodable)") + "\n";
}

bool well_formed_item(const boost::json::value& v) {
  if (!v.is_object())
    return false;
  auto& o = v.as_object();
  auto* value = o.if_contains("value");
  return item_key(o) && value && (value->is_null() || value->is_string());
}

/// The keys of a batch-get: the arguments, then --keys-from's lines; each
/// checked and named once (the service refuses a batch naming one twice).
expected<std::vector<std::string>> batch_keys(const parsed_args& args) {
  std::vector<std::string> keys = args.positionals;
  if (auto* from = args.value("--keys-from")) {
    std::ifstream file;
    if (*from != "-") {
      file.open(*from, std::ios::binary);
      if (!file)
        return usage_failure("cannot open " + *from + ": "
                             + std::strerror(errno));
    }
    std::istream& in = *from == "-" ? std::cin : file;
    std::string line;
    for (;;) {
      auto r = read_line(in, line, max_key_bytes + 1);
      if (r == line_read::end)
        break;
      if (r == line_read::error)
        return usage_failure("cannot read " + *from + ": "
                             + std::strerror(errno));
      if (r == line_read::too_long)
        return usage_failure("--keys-from: line "
                             + std::to_string(keys.size() + 1)
                             + " is longer than a key may be");
      if (!line.empty())
        keys.push_back(line);
    }
  }
  if (keys.empty())
    return usage_failure(
      "usage: solver-state-cli batch-get KEY... [--keys-from FILE|-]");
  std::unordered_set<std::string> seen;
  for (auto& k : keys) {
    if (auto f = check_key(k))
      return *f;
    if (!seen.insert(k).second)
      return usage_failure("key named twice: " + k);
  }
  return keys;
}

} // namespace

int run_ls(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 0, 1, "ls [PREFIX]"))
    return report(*f, cx.json);
  auto prefix = args.positionals.empty() ? std::string{} : args.positionals[0];
  auto paged = paging_of(args, default_page_size, max_page_size);
  if (!paged)
    return report(paged.error(), cx.json);
  auto limit = paged->limit;
  auto page_size = paged->page_size;
  streamed_json_list out{cx.json, "keys"};
  long long listed = 0;
  std::optional<std::string> cursor;
  for (;;) {
    auto want = limit ? std::min(page_size, *limit - listed) : page_size;
    auto r = cx.http.send("GET", list_target(prefix, want, cursor));
    if (!r)
      return out.finish(r.error());
    auto p = read_page(*r);
    if (!p)
      return out.finish(p.error());
    for (auto& k : p->keys) {
      auto key = listed_key(k);
      if (!key)
        return out.finish(odd_answer("a key that is neither a string nor "
                                     "{\"key_base64\":...}"));
      auto f = cx.json ? out.add(boost::json::serialize(k))
                       : write_stdout(*key + "\n");
      if (f)
        return out.finish(f);
    }
    listed += static_cast<long long>(p->keys.size());
    if (!p->next_cursor || (limit && listed >= *limit))
      return out.finish(std::nullopt);
    if (p->keys.empty())
      return out.finish(odd_answer("an empty page with a next cursor"));
    cursor = std::move(p->next_cursor);
  }
}

int run_batch_get(context& cx, const parsed_args& args) {
  auto keys = batch_keys(args);
  if (!keys)
    return report(keys.error(), cx.json);
  auto batch_size = default_batch_size;
  if (auto* v = args.value("--batch-size")) {
    auto n = parse_count("--batch-size", *v, 1, 100'000);
    if (!n)
      return report(n.error(), cx.json);
    batch_size = *n;
  }
  const bool skip_unreadable = args.has("--skip-unreadable");
  const std::string target = skip_unreadable
                               ? "/v1/state/batch-get?skip_unreadable=true"
                               : "/v1/state/batch-get";
  long long unreadable = 0;
  streamed_json_list out{cx.json, "items"};
  for (size_t begin = 0; begin < keys->size();
       begin += static_cast<size_t>(batch_size)) {
    auto end = std::min(keys->size(), begin + static_cast<size_t>(batch_size));
    boost::json::array pending(keys->begin() + begin, keys->begin() + end);
    while (!pending.empty()) {
      boost::json::object body;
      auto asked = pending.size();
      body["keys"] = std::move(pending);
      auto r = cx.http.send("POST", target,
                            boost::json::serialize(body),
                            {{"Content-Type", "application/json"}});
      if (!r)
        return out.finish(r.error());
      if (r->status != 200)
        return out.finish(route_failure_of(*r));
      boost::json::error_code ec;
      auto doc = parse_answer(r->body, ec);
      auto* obj = !ec && doc.is_object() ? &doc.as_object() : nullptr;
      auto* items = obj ? obj->if_contains("items") : nullptr;
      auto* rest = obj ? obj->if_contains("unprocessed_keys") : nullptr;
      if (!items || !items->is_array() || (rest && !rest->is_array()))
        return out.finish(odd_answer("a batch-get reply without items"));
      // A reply that answers nothing would make this loop forever.
      if (items->as_array().empty())
        return out.finish(odd_answer("a batch-get reply answering none of "
                                     + std::to_string(asked) + " keys"));
      for (auto& item : items->as_array()) {
        if (!well_formed_item(item))
          return out.finish(odd_answer("a batch-get item without key/value"));
        if (unreadable_reason(item.as_object()))
          ++unreadable;
        auto f = cx.json ? out.add(boost::json::serialize(item))
                         : write_stdout(human_item(item.as_object()));
        if (f)
          return out.finish(f);
      }
      pending = rest ? std::move(rest->as_array()) : boost::json::array{};
    }
  }
  if (unreadable > 0)
    return out.finish(failure{exit_server_error, "unreadable_values",
                              "batch-get: the service cannot read "
                                + std::to_string(unreadable) + " of the "
                                + std::to_string(keys->size()) + " values"});
  return out.finish(std::nullopt);
}

} // namespace solver_state::cli
