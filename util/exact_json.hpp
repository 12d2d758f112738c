#pragma once

// Boost.JSON's parse, with every number that is not an integer read as the
// nearest double to its text. Boost.JSON 1.81 computes such a number as
// mantissa times a power of ten, rounding twice: for about one decimal in
// ten of up to 17 digits (123.45678901234567) it answers a neighbour of the
// nearest double. simdjson (the indexed fields of stored values) and the
// compiler (a typed query's literals) answer the nearest one, so a query
// read by Boost.JSON would miss the value it names. Every JSON text whose
// numbers meet indexed fields (a query's body, the indexes' fallback
// reading, the CLI's conditions) is read here.

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/parse_options.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

namespace solver_state {

/// The document `text` holds, as boost::json::parse reads it but for the
/// rounding of numbers with a fraction or an exponent (and of integers past
/// 64 bits); a null value and `ec` set when it is not JSON.
boost::json::value parse_json_exact(std::string_view text,
                                    boost::json::error_code& ec,
                                    boost::json::storage_ptr sp = {},
                                    const boost::json::parse_options& opt = {});

/// As parse_json_exact, for a request's body or an import line, with
/// `problem` saying what is wrong when it is refused (nullopt): not JSON
/// ("malformed JSON: ..."), or an object naming a member twice. Boost.JSON
/// keeps the last of them, so a second "expires_at_ms" silently replaced
/// the first, and which one the sender meant is unknowable. Stored values
/// are read leniently (parse_json_exact).
std::optional<boost::json::value> parse_json_request(std::string_view text,
                                                     std::string& problem);

} // namespace solver_state
