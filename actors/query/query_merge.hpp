#pragma once

// Merging the query pages of several owners (shards, nodes) into one page
// of the same query, in its order, resuming exactly where the least
// advanced owner with more would.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "messages/query.hpp"

namespace solver_state {

/// One page of `req` from the owners' pages: every item up to the first
/// point where an owner has more to say (its next_cursor), in order, cut
/// at the limit and where the values reach `max_reply_bytes` (the first
/// always fits); next_cursor where the merged page ends, empty when no
/// owner has more.
query_page merge_query_pages(std::vector<query_page>& pages,
                             const query_request& req,
                             size_t max_reply_bytes = SIZE_MAX);

/// A merged page of the owners' finds (merge_query_pages of pages without
/// values) with the owners' confirmations put in its place: `owner_of`
/// names each merged item's owner, `confirmed` holds each owner's
/// confirmation of its items (in the merged order, some left out). An
/// item its owner left out (it no longer matches, or the index drifted)
/// is skipped; the page ends before the first item past an owner's cut
/// (a confirmation with a next_cursor: its reply budget) and where the
/// values reach `max_reply_bytes` (the first always fits), its cursor then
/// after its last item; otherwise the merged page's cursor stands.
query_page assemble_confirmed(query_page merged,
                              const std::vector<uint32_t>& owner_of,
                              std::vector<query_page>& confirmed,
                              const query_request& req,
                              size_t max_reply_bytes = SIZE_MAX);

} // namespace solver_state
