#pragma once

// JSON answers of the service as the client reads them.

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

#include "util/base64.hpp"

namespace solver_state::cli {

/// Parses a JSON body of the service. Its bodies are UTF-8 (a key that is
/// not is written as base64, below); a service from before that wrote such
/// keys as they are, and refusing invalid UTF-8 would make one break every
/// listing it is in.
inline boost::json::value parse_answer(std::string_view text,
                                       boost::json::error_code& ec) {
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;
  return boost::json::parse(text, ec, {}, options);
}

/// A key (or id) in a list: a string, or {"key_base64"|"id_base64": ...}
/// for one that is not UTF-8; nullopt for anything else.
inline std::optional<std::string> listed_key(const boost::json::value& v) {
  if (auto* s = v.if_string())
    return std::string{s->data(), s->size()};
  auto* o = v.if_object();
  if (!o || o->size() != 1)
    return std::nullopt;
  auto& [name, encoded] = *o->begin();
  if ((name != "key_base64" && name != "id_base64") || !encoded.is_string())
    return std::nullopt;
  return base64_decode(encoded.get_string().c_str());
}

/// The key of an item (batch-get, query): "key", or "key_base64" for one
/// that is not UTF-8; nullopt when it has neither.
inline std::optional<std::string> item_key(const boost::json::object& item) {
  if (auto* k = item.if_contains("key"); k && k->is_string())
    return std::string{k->get_string().data(), k->get_string().size()};
  if (auto* k = item.if_contains("key_base64"); k && k->is_string())
    return base64_decode(k->get_string().c_str());
  return std::nullopt;
}

} // namespace solver_state::cli
