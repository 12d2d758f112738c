#pragma once

// Merging the answers of a fan-out (shards of one store, or nodes of a
// cluster) into the one answer the caller expects.

#include <cstdint>
#include <vector>

#include "messages/domain.hpp"
#include "messages/values.hpp"

namespace solver_state {

/// Merges sorted pages into one sorted page of at most `limit` keys (0 = all);
/// `more` when any part had more, or the merge was cut at `limit`.
key_page merge_pages(std::vector<key_page>& pages, uint32_t limit);

/// Concatenates id lists and sorts the result.
id_list merge_ids(std::vector<id_list>& lists);

} // namespace solver_state
