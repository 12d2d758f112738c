// The JSON bodies of the HTTP API (Boost.JSON): error and status bodies,
// the batch-get request and reply, key pages and id lists.

#include "http/json_codec.hpp"

#include <boost/json.hpp>

#include "http/backup_line.hpp"
#include "http/etag.hpp"
#include "http/json_keys.hpp"
#include "util/base64.hpp"
#include "util/exact_json.hpp"

namespace solver_state::gateway {

namespace json = boost::json;

namespace {

/// Keys (or ids, parts of keys) as array elements: {"key_base64":...}
/// where one is not UTF-8 (json_keys.hpp).
json::array key_array(const std::vector<std::string>& xs,
                      const char* base64_field = "key_base64") {
  json::array out;
  out.reserve(xs.size());
  for (auto& x : xs)
    out.push_back(json_key_element(x, base64_field));
  return out;
}

} // namespace

namespace {

json::object error_object(state_errc code, std::string_view message) {
  json::object out;
  out["code"] = to_string(code);
  // Messages quote keys and query strings, which may be any bytes.
  out["message"] = as_utf8_text(message);
  return out;
}

} // namespace

std::string error_body(state_errc code, std::string_view message) {
  json::object outer;
  outer["error"] = error_object(code, message);
  return json::serialize(outer);
}

std::string status_body(std::string_view status) {
  json::object out;
  out["status"] = json::string_view{status.data(), status.size()};
  return json::serialize(out);
}

std::string readiness_body(const health_report& report, bool own_share) {
  json::object out;
  out["status"] = "ready";
  if (own_share)
    out["scope"] = "local";
  out["quarantined_values"] = report.quarantined_values;
  out["undecryptable_values"] = report.undecryptable_values;
  return json::serialize(out);
}

std::string deleted_body(uint64_t deleted) {
  json::object out;
  out["deleted"] = deleted;
  return json::serialize(out);
}

std::optional<std::vector<std::string>>
parse_batch_keys(std::string_view body, std::string& problem,
                 size_t max_keys) {
  auto doc = parse_json_request(body, problem);
  if (!doc)
    return std::nullopt;
  auto* obj = doc->if_object();
  auto* keys = obj ? obj->if_contains("keys") : nullptr;
  auto* arr = keys ? keys->if_array() : nullptr;
  if (!arr) {
    problem = "body must be {\"keys\":[\"...\", ...]}";
    return std::nullopt;
  }
  if (arr->size() > max_keys) {
    problem = "a batch of " + std::to_string(arr->size())
              + " keys; http.max_batch_keys is " + std::to_string(max_keys);
    return std::nullopt;
  }
  std::vector<std::string> out;
  out.reserve(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    auto* s = (*arr)[i].if_string();
    if (!s) {
      problem = "keys[" + std::to_string(i) + "] must be a string";
      return std::nullopt;
    }
    out.emplace_back(s->data(), s->size());
  }
  return out;
}

std::string batch_items_body(const std::vector<std::string>& keys,
                             const batch_reply& reply) {
  auto& entries = reply.entries;
  auto unreadable = reply.unreadable.begin(); // in request order too
  json::array items;
  items.reserve(entries.size());
  for (size_t i = 0; i < keys.size() && i < entries.size(); ++i) {
    json::object item;
    set_json_key(item, keys[i]);
    if (entries[i].found()) {
      item["value"] = base64_encode(entries[i].value);
      item["etag"] = format_etag(entries[i].version);
    } else {
      item["value"] = nullptr;
      item["etag"] = nullptr;
      if (unreadable != reply.unreadable.end() && unreadable->key == keys[i])
        item["error"] = error_object(state_errc::backend_error,
                                     (unreadable++)->reason);
    }
    items.emplace_back(std::move(item));
  }
  json::object out;
  out["items"] = std::move(items);
  out["unprocessed_keys"] = key_array(reply.unprocessed);
  return json::serialize(out);
}

std::string key_page_body(const key_page& page,
                          const std::optional<std::string>& next_cursor) {
  json::object out;
  out["keys"] = key_array(page.keys);
  if (next_cursor)
    out["next_cursor"] = *next_cursor;
  else
    out["next_cursor"] = nullptr;
  return json::serialize(out);
}

std::string id_list_body(std::string_view field, const id_list& ids,
                         const std::optional<std::string>& next_cursor) {
  json::object out;
  out[json::string_view{field.data(), field.size()}] =
    key_array(ids.ids, "id_base64");
  if (next_cursor)
    out["next_cursor"] = *next_cursor;
  else
    out["next_cursor"] = nullptr;
  return json::serialize(out);
}

} // namespace solver_state::gateway
