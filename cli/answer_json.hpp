#pragma once

// JSON answers of the service as the client reads them.

#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>

namespace solver_state::cli {

/// Parses a JSON body of the service. A key may be any bytes, invalid UTF-8
/// included, and the service writes keys into JSON as they are: refusing
/// invalid UTF-8 would make such a key break every listing it is in.
inline boost::json::value parse_answer(std::string_view text,
                                       boost::json::error_code& ec) {
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;
  return boost::json::parse(text, ec, {}, options);
}

} // namespace solver_state::cli
