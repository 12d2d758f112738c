#pragma once

// Bounds of a query beyond its page (max_query_page, messages/query.hpp),
// checked by the indexes and, before anything is copied, by the HTTP
// gateway's parser.

#include <cstddef>

namespace solver_state {

/// The most conditions one query may AND together.
constexpr size_t max_query_conditions = 16;

} // namespace solver_state
