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

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "messages/query.hpp"

namespace solver_state {

/// The rules by which extract_fields reads a value, as a number: bumped
/// whenever what it yields for some value changes (a number rounded
/// otherwise, a document it now reads or no longer reads, a field it now
/// takes or leaves). An index snapshot records the rules its fields were
/// read by; one of other rules is rebuilt from the values, for the fields
/// it holds may not be what this build reads (an upgrade that reads
/// `1e9999999999` or 17-digit decimals otherwise would go on answering
/// queries by the old reading). tests/actors/query/json_fields_test.cpp
/// pins what the rules yield for tricky documents, so a change to them
/// fails there until this is bumped.
///   1: Boost.JSON's reading (2026-12-04, the first snapshots).
///   2: simdjson, decimals to the nearest double, 1,024 levels of nesting;
///      numbers past a double's range not indexed; a long exponent no
///      longer hides the other fields (2026-12-07).
///   3: strings longer than max_indexed_string_bytes not indexed.
constexpr uint32_t field_rules_version = 3;

/// The fields of `value` at each of `paths` (JSON pointers), when `value`
/// is a JSON object; a field that is missing, or not a string or a number,
/// is nothing, as is a string longer than max_indexed_string_bytes
/// (messages/query_bounds.hpp). An empty path asks for nothing (that index does not cover
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
