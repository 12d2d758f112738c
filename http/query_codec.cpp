#include "http/query_codec.hpp"

#include <boost/json.hpp>

#include "http/etag.hpp"
#include "http/json_keys.hpp"
#include "messages/query_bounds.hpp"
#include "util/base64.hpp"
#include "util/exact_json.hpp"

namespace solver_state::gateway {

namespace json = boost::json;

namespace {

/// A condition's value: a JSON string or number.
bool value_of(const json::value& v, index_value& out) {
  switch (v.kind()) {
    case json::kind::string:
      out = index_value::of(std::string{v.get_string().data(),
                                        v.get_string().size()});
      return true;
    case json::kind::int64:
      out = index_value::of(static_cast<long double>(v.get_int64()));
      return true;
    case json::kind::uint64:
      out = index_value::of(static_cast<long double>(v.get_uint64()));
      return true;
    case json::kind::double_:
      out = index_value::of(static_cast<long double>(v.get_double()));
      return true;
    default:
      return false;
  }
}

bool read_condition(size_t i, const json::value& in, query_condition& c,
                    std::string& problem) {
  auto where = "where[" + std::to_string(i) + "]";
  auto fail = [&](std::string why) {
    problem = where + ": " + std::move(why);
    return false;
  };
  auto* obj = in.if_object();
  if (!obj)
    return fail("must be {\"index\":I,\"op\":O,\"value\":V}");
  const json::value* value = nullptr;
  bool has_op = false;
  for (auto& field : *obj) {
    auto name = field.key();
    auto& v = field.value();
    if (name == "index") {
      if (!v.is_string())
        return fail("\"index\" must be a string");
      c.index.assign(v.get_string().data(), v.get_string().size());
    } else if (name == "op") {
      query_op op;
      if (!v.is_string()
          || !from_string(std::string{v.get_string().data(),
                                      v.get_string().size()},
                          op))
        return fail("\"op\" must be one of eq, ne, in, nin, lt, lte, gt, "
                    "gte, exists");
      c.op = static_cast<uint8_t>(op);
      has_op = true;
    } else if (name == "value") {
      value = &v;
    } else {
      return fail("unknown field \"" + std::string{name} + "\"");
    }
  }
  if (c.index.empty())
    return fail("\"index\" is missing");
  if (!has_op)
    return fail("\"op\" is missing");
  auto op = c.what();
  if (op == query_op::exists) {
    if (value)
      return fail("exists takes no \"value\"");
    return true;
  }
  if (!value)
    return fail("\"value\" is missing");
  if (op == query_op::in || op == query_op::nin) {
    auto* list = value->if_array();
    if (!list)
      return fail(std::string{"\"value\" of "} + to_string(op)
                  + " must be an array of strings or numbers");
    if (list->empty() || list->size() > max_query_page)
      return fail(std::string{to_string(op)} + " takes 1 to "
                  + std::to_string(max_query_page) + " values");
    for (auto& item : *list) {
      index_value iv;
      if (!value_of(item, iv))
        return fail(std::string{"\"value\" of "} + to_string(op)
                    + " must hold strings or numbers only");
      c.values.push_back(std::move(iv));
    }
    return true;
  }
  index_value iv;
  if (!value_of(*value, iv))
    return fail("\"value\" must be a string or a number");
  c.values.push_back(std::move(iv));
  return true;
}

bool read_order(const json::value& in, query_request& out,
                std::string& problem) {
  auto* obj = in.if_object();
  if (!obj) {
    problem = "order_by must be {\"index\":I,\"direction\":\"asc\"|\"desc\"}";
    return false;
  }
  for (auto& field : *obj) {
    auto name = field.key();
    auto& v = field.value();
    if (name == "index" && v.is_string()) {
      out.order_by.assign(v.get_string().data(), v.get_string().size());
    } else if (name == "direction" && v.is_string()
               && (v.get_string() == "asc" || v.get_string() == "desc")) {
      out.descending = v.get_string() == "desc";
    } else {
      problem = "order_by." + std::string{name}
                + (name == "index" ? " must be a string"
                   : name == "direction"
                     ? " must be \"asc\" or \"desc\""
                     : ": unknown field");
      return false;
    }
  }
  if (out.order_by.empty()) {
    problem = "order_by.index is missing";
    return false;
  }
  return true;
}

} // namespace

std::optional<query_request> parse_query(std::string_view body,
                                         std::string& problem) {
  // Numbers as the indexes read them from values (exact_json.hpp): an
  // "eq" names the field's double, not a neighbour.
  auto doc = parse_json_request(body, problem);
  if (!doc)
    return std::nullopt;
  auto* obj = doc->if_object();
  if (!obj) {
    problem = "body must be a JSON object";
    return std::nullopt;
  }
  query_request out;
  out.limit = default_query_limit;
  for (auto& field : *obj) {
    auto name = field.key();
    auto& v = field.value();
    if (name == "prefix") {
      if (!v.is_string()) {
        problem = "prefix must be a string";
        return std::nullopt;
      }
      out.prefix.assign(v.get_string().data(), v.get_string().size());
    } else if (name == "where") {
      auto* list = v.if_array();
      if (!list) {
        problem = "where must be an array of conditions";
        return std::nullopt;
      }
      if (list->size() > max_query_conditions) {
        problem = "at most " + std::to_string(max_query_conditions)
                  + " conditions, got " + std::to_string(list->size());
        return std::nullopt;
      }
      for (size_t i = 0; i < list->size(); ++i) {
        query_condition c;
        if (!read_condition(i, (*list)[i], c, problem))
          return std::nullopt;
        out.where.push_back(std::move(c));
      }
    } else if (name == "order_by") {
      if (!v.is_null() && !read_order(v, out, problem))
        return std::nullopt;
    } else if (name == "limit") {
      auto* n = v.if_int64();
      if (!n || *n < 1 || *n > max_query_page) {
        problem = "limit must be a whole number from 1 to "
                  + std::to_string(max_query_page);
        return std::nullopt;
      }
      out.limit = static_cast<uint32_t>(*n);
    } else if (name == "cursor") {
      if (v.is_null())
        continue;
      auto* text = v.if_string();
      auto decoded = text ? base64url_decode(std::string_view{
                              text->data(), text->size()})
                          : std::nullopt;
      if (!decoded || decoded->empty()) {
        problem = "cursor must be a next_cursor this service returned";
        return std::nullopt;
      }
      out.cursor = std::move(*decoded);
    } else if (name == "values") {
      if (!v.is_bool()) {
        problem = "values must be true or false";
        return std::nullopt;
      }
      out.with_values = v.get_bool();
    } else {
      problem = "unknown field \"" + std::string{name} + "\"";
      return std::nullopt;
    }
  }
  return out;
}

std::string query_page_body(const query_page& page, bool with_values) {
  json::array items;
  items.reserve(page.items.size());
  for (auto& item : page.items) {
    json::object o;
    set_json_key(o, item.key);
    o["etag"] = format_etag(item.version);
    if (with_values)
      o["value"] = base64_encode(item.value);
    items.push_back(std::move(o));
  }
  json::object out;
  out["items"] = std::move(items);
  if (page.next_cursor.empty())
    out["next_cursor"] = nullptr;
  else
    out["next_cursor"] = base64url_encode(page.next_cursor);
  return json::serialize(out);
}

} // namespace solver_state::gateway
