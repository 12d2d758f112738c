// Parsing a transaction body and rendering its committed entity tags.

#include "http/transaction_codec.hpp"

#include <boost/json.hpp>

#include "http/etag.hpp"
#include "http/backup_line.hpp"
#include "util/base64.hpp"
#include "util/exact_json.hpp"

namespace solver_state::gateway {

namespace json = boost::json;

namespace {

std::string at(size_t i) {
  return "operations[" + std::to_string(i) + "]";
}

/// The version of an if_match value: an entity tag as the ETag header shows
/// it ("\"7\"") or the bare number ("7"), exactly: "\"007\"" is no tag
/// the service gives, and never matches in an If-Match header either. No
/// write has version 0, in either form: a condition on it could never hold.
std::optional<version_t> version_of(std::string_view text) {
  if (auto v = parse_etag(text))
    return *v == 0 || format_etag(*v) != text ? std::nullopt : v;
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0'))
    return std::nullopt;
  version_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    auto next = v * 10 + static_cast<version_t>(c - '0');
    if (next / 10 != v)
      return std::nullopt; // overflow
    v = next;
  }
  return v == 0 ? std::nullopt : std::optional<version_t>{v};
}

/// Fills `op` from the JSON object `in`; false with `problem` set when a
/// field is missing, of the wrong type, or unknown.
bool read_op(size_t i, const json::object& in, txn_op& op,
             std::string& problem) {
  auto fail = [&](std::string why) {
    problem = at(i) + ": " + std::move(why);
    return false;
  };
  auto* kind = in.if_contains("op");
  auto* kind_text = kind ? kind->if_string() : nullptr;
  if (!kind_text || (*kind_text != "set" && *kind_text != "delete"))
    return fail("\"op\" must be \"set\" or \"delete\"");
  op.kind = *kind_text == "set" ? txn_op::set : txn_op::erase;
  auto* key = in.if_contains("key");
  auto* key_text = key ? key->if_string() : nullptr;
  if (!key_text)
    return fail("\"key\" must be a string");
  op.key.assign(key_text->data(), key_text->size());
  bool has_condition = false;
  for (auto& field : in) {
    auto name = field.key();
    auto& value = field.value();
    if (name == "op" || name == "key")
      continue;
    if (name == "value" && op.kind == txn_op::set) {
      auto* text = value.if_string();
      auto bytes = text ? base64_decode({text->data(), text->size()})
                        : std::nullopt;
      if (!bytes)
        return fail("\"value\" must be base64 text");
      op.value = std::move(*bytes);
    } else if (name == "ttl_seconds" && op.kind == txn_op::set) {
      auto* n = value.if_int64();
      auto* u = value.if_uint64();
      uint64_t secs = n && *n >= 0 ? static_cast<uint64_t>(*n) : u ? *u : ~0ull;
      if (secs > max_txn_ttl_seconds)
        return fail("\"ttl_seconds\" must be a whole number of seconds from "
                    "0 to "
                    + std::to_string(max_txn_ttl_seconds));
      op.ttl_ms = static_cast<int64_t>(secs) * 1000;
    } else if (name == "if_match" && !has_condition) {
      auto* text = value.if_string();
      auto v = text ? version_of({text->data(), text->size()}) : std::nullopt;
      if (!v)
        return fail("\"if_match\" must be a version such as \"\\\"7\\\"\" "
                    "or \"7\"");
      op.cond = condition::matches(*v);
      has_condition = true;
    } else if (name == "if_none_match" && op.kind == txn_op::set
               && !has_condition) {
      auto* text = value.if_string();
      if (!text || *text != "*")
        return fail("\"if_none_match\" must be \"*\"");
      op.cond = condition::absent();
      has_condition = true;
    } else if (name == "if_none_match" && op.kind == txn_op::erase) {
      // A delete of an absent key already succeeds: create-only has no
      // meaning for it (docs/api.md: a delete takes "if_match" only).
      return fail("\"if_none_match\" is not allowed on a delete (a delete "
                  "takes \"if_match\" only)");
    } else if (name == "if_match" || name == "if_none_match") {
      return fail("at most one of \"if_match\" and \"if_none_match\"");
    } else {
      return fail("unknown field \"" + std::string{name} + "\" for a "
                  + std::string{*kind_text});
    }
  }
  if (op.kind == txn_op::set && !in.contains("value"))
    return fail("a set needs \"value\"");
  return true;
}

} // namespace

std::optional<transaction_request>
parse_transaction(std::string_view body, std::string& problem,
                  size_t max_ops) {
  auto doc = parse_json_request(body, problem);
  if (!doc)
    return std::nullopt;
  auto* obj = doc->if_object();
  auto* ops = obj ? obj->if_contains("operations") : nullptr;
  auto* arr = ops ? ops->if_array() : nullptr;
  if (!arr || obj->size() != 1) {
    problem = "body must be {\"operations\":[{\"op\":\"set\" or \"delete\", "
              "\"key\":...}, ...]}";
    return std::nullopt;
  }
  if (arr->size() > max_ops) {
    problem = "a transaction of " + std::to_string(arr->size())
              + " operations; http.max_batch_keys is "
              + std::to_string(max_ops);
    return std::nullopt;
  }
  transaction_request out;
  out.ops.resize(arr->size());
  for (size_t i = 0; i < arr->size(); ++i) {
    auto* op = (*arr)[i].if_object();
    if (!op) {
      problem = at(i) + " must be an object";
      return std::nullopt;
    }
    if (!read_op(i, *op, out.ops[i], problem))
      return std::nullopt;
  }
  return out;
}

std::string transaction_reply_body(const transaction_request& req,
                                   const transaction_reply& reply) {
  // Member names are text too: a key that is not UTF-8 is named by its
  // base64 in "etags_base64" (present only when there is one).
  json::object etags, etags_base64;
  for (size_t i = 0; i < req.ops.size() && i < reply.versions.size(); ++i) {
    if (req.ops[i].kind != txn_op::set)
      continue;
    auto& key = req.ops[i].key;
    if (is_utf8(key))
      etags[json::string_view{key.data(), key.size()}] =
        format_etag(reply.versions[i]);
    else
      etags_base64[base64_encode(key)] = format_etag(reply.versions[i]);
  }
  json::object out;
  out["etags"] = std::move(etags);
  if (!etags_base64.empty())
    out["etags_base64"] = std::move(etags_base64);
  return json::serialize(out);
}

} // namespace solver_state::gateway
