#pragma once

// The fields a declared index takes from a value (state.indexes): the
// string or number at a JSON pointer of a JSON object. Every indexed write
// reads its value here once, and a start without a snapshot reads every
// value under the indexes' prefixes, so the parse is on the write path:
// simdjson, 2.5-3x faster than a DOM of Boost.JSON on a solver's orders
// (bench/README.md, "Reading the indexed fields"), with Boost.JSON for
// what simdjson refuses and Boost.JSON reads (numbers past 64 bits), so
// that the two agree on what is JSON and what each field is: numbers are
// the nearest double to their text either way (util/exact_json.hpp), as a
// query's are, and documents nest up to simdjson's 1,024 levels.

#include <optional>
#include <string_view>
#include <vector>

#include "messages/query.hpp"

namespace solver_state {

/// The fields of `value` at each of `paths` (JSON pointers), when `value`
/// is a JSON object; a field that is missing, or not a string or a number,
/// is nothing. An empty path asks for nothing (that index does not cover
/// the key). A member named twice in one object: the last one, as a
/// document that keeps one of them keeps it.
std::vector<std::optional<index_value>>
extract_fields(std::string_view value,
               const std::vector<std::string_view>& paths);

/// The same into `out` (its capacity reused).
void extract_fields(std::string_view value,
                    const std::vector<std::string_view>& paths,
                    std::vector<std::optional<index_value>>& out);

} // namespace solver_state
