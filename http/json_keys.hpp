#pragma once

// Keys in the JSON bodies: JSON strings are text and keys are bytes, so a
// key that is not UTF-8 is written as base64 under a name that says so
// ("key_base64", as exports and watch events write it). Only for the codec
// sources, which already parse and write with Boost.JSON.

#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "http/backup_line.hpp"
#include "util/base64.hpp"

namespace solver_state::gateway {

/// o["key"] = key, or o["key_base64"] = its base64.
inline void set_json_key(boost::json::object& o, std::string_view key) {
  if (is_utf8(key))
    o["key"] = boost::json::string_view{key.data(), key.size()};
  else
    o["key_base64"] = base64_encode(key);
}

/// The key as an array element: the string, or {base64_field: its base64}.
inline boost::json::value json_key_element(std::string_view key,
                                           const char* base64_field) {
  if (is_utf8(key))
    return boost::json::string_view{key.data(), key.size()};
  boost::json::object o;
  o[base64_field] = base64_encode(key);
  return o;
}

} // namespace solver_state::gateway
