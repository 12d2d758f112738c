// query: keys by indexed fields, through POST /v1/query, page by page to
// the end (or --limit), printed as each page arrives.

#include <algorithm>
#include <cctype>
#include <optional>

#include <boost/json.hpp>

#include "cli/answer_json.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/read_input.hpp"
#include "cli/reply_failure.hpp"
#include "cli/streamed_json_list.hpp"
#include "util/base64.hpp"
#include "util/exact_json.hpp"

namespace solver_state::cli {

namespace {

namespace json = boost::json;

constexpr long long default_page_size = 100;
constexpr long long max_page_size = 1000;

/// "INDEX OP [VALUE]" into {"index","op","value"?}. VALUE is JSON when it
/// parses as JSON, else the text itself (so --where 'status eq pending'
/// needs no quotes, and --where 'id eq "42"' asks for the string).
expected<json::object> parse_where(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return usage_failure("--where '" + text + "': " + why
                         + " (write 'INDEX OP [VALUE]', e.g. 'status eq "
                           "pending')");
  };
  size_t at = 0;
  auto word = [&] {
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at])))
      ++at;
    auto start = at;
    while (at < text.size() && !std::isspace(static_cast<unsigned char>(text[at])))
      ++at;
    return text.substr(start, at - start);
  };
  auto index = word();
  auto op = word();
  if (index.empty() || op.empty())
    return bad("needs an index and an operator");
  auto rest = text.substr(std::min(at, text.size()));
  auto first = rest.find_first_not_of(" \t");
  rest = first == std::string::npos ? std::string{} : rest.substr(first);
  json::object out;
  out["index"] = index;
  out["op"] = op;
  if (op == "exists") {
    if (!rest.empty())
      return bad("exists takes no value");
    return out;
  }
  if (rest.empty())
    return bad(op + " needs a value");
  json::error_code ec;
  auto parsed = parse_json_exact(rest, ec); // sent as the service reads it
  if (!ec && (parsed.is_string() || parsed.is_number() || parsed.is_array()))
    out["value"] = std::move(parsed);
  else
    out["value"] = rest;
  return out;
}

/// The body of the first page: --body's, or one built from the arguments.
expected<json::object> first_body(const parsed_args& args,
                                  long long page_size) {
  if (auto* source = args.value("--body")) {
    if (!args.positionals.empty() || args.has("--where")
        || args.has("--order-by") || args.has("--desc")
        || args.has("--values"))
      return usage_failure("--body takes the whole query: give no PREFIX, "
                           "--where, --order-by, --desc or --values with it");
    auto text = read_input(*source, "query body");
    if (!text)
      return text.error();
    json::error_code ec;
    auto doc = parse_json_exact(*text, ec);
    if (ec || !doc.is_object())
      return usage_failure("--body: not a JSON object"
                           + (ec ? ": " + ec.message() : std::string{}));
    auto body = std::move(doc.as_object());
    if (!body.contains("limit"))
      body["limit"] = page_size;
    return body;
  }
  json::object body;
  if (!args.positionals.empty())
    body["prefix"] = args.positionals[0];
  json::array where;
  for (auto& text : args.values("--where")) {
    auto cond = parse_where(text);
    if (!cond)
      return cond.error();
    where.push_back(std::move(*cond));
  }
  if (!where.empty())
    body["where"] = std::move(where);
  if (auto* index = args.value("--order-by")) {
    json::object order;
    order["index"] = *index;
    order["direction"] = args.has("--desc") ? "desc" : "asc";
    body["order_by"] = std::move(order);
  } else if (args.has("--desc")) {
    return usage_failure("--desc needs --order-by (key order is ascending)");
  }
  if (!body.contains("where") && !body.contains("order_by"))
    return usage_failure("a query needs --where or --order-by (to list "
                         "keys, use ls)");
  if (args.has("--values"))
    body["values"] = true;
  body["limit"] = page_size;
  return body;
}

/// One item as a line: KEY<TAB>ETAG[<TAB>VALUE].
std::string human_item(const json::object& item) {
  auto& etag = item.at("etag").as_string();
  std::string line = item_key(item).value_or("");
  line += '\t';
  line.append(etag.data(), etag.size());
  if (auto* value = item.if_contains("value"); value && value->is_string()) {
    auto bytes = base64_decode(value->as_string().c_str());
    line += '\t';
    line += bytes ? human_value(*bytes) : "(undecodable)";
  }
  return line + "\n";
}

bool well_formed(const json::value& v) {
  auto* o = v.if_object();
  if (!o)
    return false;
  auto* etag = o->if_contains("etag");
  return item_key(*o) && etag && etag->is_string();
}

} // namespace

int run_query(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 0, 1, "query [PREFIX] [--where ...]"))
    return report(*f, cx.json);
  auto paged = paging_of(args, default_page_size, max_page_size);
  if (!paged)
    return report(paged.error(), cx.json);
  auto limit = paged->limit;
  auto page_size = paged->page_size;
  auto body = first_body(args, page_size);
  if (!body)
    return report(body.error(), cx.json);
  streamed_json_list out{cx.json, "items"};
  long long found = 0;
  for (;;) {
    if (limit) {
      auto* asked = body->if_contains("limit");
      auto size = asked && asked->is_int64() ? asked->as_int64() : page_size;
      (*body)["limit"] = std::min<long long>(size, *limit - found);
    }
    auto r = cx.http.send("POST", "/v1/query", json::serialize(*body),
                          {{"Content-Type", "application/json"}});
    if (!r)
      return out.finish(r.error());
    if (r->status != 200)
      return out.finish(route_failure_of(*r));
    json::error_code ec;
    auto doc = parse_answer(r->body, ec);
    auto* page = ec ? nullptr : doc.if_object();
    auto* items = page ? page->if_contains("items") : nullptr;
    auto* cursor = page ? page->if_contains("next_cursor") : nullptr;
    if (!items || !items->is_array() || !cursor
        || !(cursor->is_null() || cursor->is_string()))
      return out.finish(odd_answer("a query page without items and "
                                   "next_cursor"));
    for (auto& item : items->as_array()) {
      if (!well_formed(item))
        return out.finish(odd_answer("an item without key and etag"));
      auto f = cx.json ? out.add(json::serialize(item))
                       : write_stdout(human_item(item.as_object()));
      if (f)
        return out.finish(f);
    }
    found += static_cast<long long>(items->as_array().size());
    if (cursor->is_null() || (limit && found >= *limit))
      return out.finish(flush_stdout());
    // A page may hold fewer items than asked and still have a cursor, but
    // an empty one that hands back the cursor it was sent makes no
    // progress: asking again would loop forever, as fast as it answers.
    auto* sent = body->if_contains("cursor");
    if (items->as_array().empty() && sent && *sent == *cursor)
      return out.finish(odd_answer("an empty page whose next_cursor is the "
                                   "cursor it was sent"));
    (*body)["cursor"] = cursor->as_string();
  }
}

} // namespace solver_state::cli
