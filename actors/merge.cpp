// Merging fan-out replies: per-owner sorted key pages into one page cut at
// the limit (keeping `more`), and per-owner id lists into one sorted list.

#include "actors/merge.hpp"

#include <algorithm>
#include <iterator>

namespace solver_state {

key_page merge_pages(std::vector<key_page>& pages, uint32_t limit) {
  key_page out;
  bool any_more = false;
  size_t total = 0;
  for (auto& p : pages) {
    total += p.keys.size();
    any_more |= p.more;
  }
  out.keys.reserve(total);
  for (auto& p : pages)
    std::move(p.keys.begin(), p.keys.end(), std::back_inserter(out.keys));
  std::sort(out.keys.begin(), out.keys.end());
  if (limit != 0 && out.keys.size() > limit) {
    out.keys.resize(limit);
    out.more = true;
  } else {
    out.more = any_more;
  }
  return out;
}

id_list merge_ids(std::vector<id_list>& lists) {
  id_list out;
  for (auto& l : lists)
    std::move(l.ids.begin(), l.ids.end(), std::back_inserter(out.ids));
  std::sort(out.ids.begin(), out.ids.end());
  return out;
}

} // namespace solver_state
