#pragma once

// Merging the answers of a fan-out (shards of one store, or nodes of a
// cluster) into the one answer the caller expects.

#include <cstdint>
#include <vector>

#include "messages/domain.hpp"
#include "messages/values.hpp"

namespace solver_state {

/// `limit` as a list message means it: 0 or more than max_list_page is
/// max_list_page.
uint32_t page_limit(uint32_t limit);

/// Merges sorted pages into one sorted page of at most page_limit(limit)
/// keys; `more` when any part had more, or the merge was cut at the limit.
key_page merge_pages(std::vector<key_page>& pages, uint32_t limit);

/// Merges sorted id pages the same way.
id_list merge_ids(std::vector<id_list>& lists, uint32_t limit);

} // namespace solver_state
