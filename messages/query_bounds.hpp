#pragma once

// Bounds of a query beyond its page (max_query_page, messages/query.hpp),
// checked by the indexes and, before anything is copied, by the HTTP
// gateway's parser.

#include <cstddef>

namespace solver_state {

/// The most conditions one query may AND together.
constexpr size_t max_query_conditions = 16;

/// The longest string an index holds: a longer field is not indexed, and an
/// eq naming a longer string is refused (no key could match it). A
/// page's cursor carries its last sort value, and a shard's page sends
/// every item's: unbounded, a value of 800 KB made a cursor past the
/// request body limit (a query stuck on its first page), and a 16 MiB one
/// a 21 MB cursor.
constexpr size_t max_indexed_string_bytes = 4096;

} // namespace solver_state
