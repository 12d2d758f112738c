// Merging fan-out replies: per-owner sorted key pages into one page cut at
// the limit (keeping `more`), and per-owner id lists into one sorted list.

#include "actors/merge.hpp"

#include <algorithm>
#include <iterator>

namespace solver_state {

uint32_t page_limit(uint32_t limit) {
  return limit == 0 || limit > max_list_page ? max_list_page : limit;
}

namespace {

/// Sorts the concatenation of `parts` (each sorted) into `out`, cut at
/// page_limit(limit); true when more exist beyond what `out` holds.
template <class Part, class Field>
bool merge_sorted(std::vector<Part>& parts, Field field, uint32_t limit,
                  std::vector<std::string>& out) {
  bool any_more = false;
  size_t total = 0;
  for (auto& p : parts) {
    total += (p.*field).size();
    any_more |= p.more;
  }
  out.reserve(total);
  for (auto& p : parts)
    std::move((p.*field).begin(), (p.*field).end(), std::back_inserter(out));
  std::sort(out.begin(), out.end());
  // A key handed to a new cluster member is listed by both nodes until its
  // old copy is dropped (actors/cluster/handoff.hpp): one of each.
  out.erase(std::unique(out.begin(), out.end()), out.end());
  auto cap = page_limit(limit);
  if (out.size() > cap) {
    out.resize(cap);
    return true;
  }
  return any_more;
}

} // namespace

key_page merge_pages(std::vector<key_page>& pages, uint32_t limit) {
  key_page out;
  out.more = merge_sorted(pages, &key_page::keys, limit, out.keys);
  return out;
}

id_list merge_ids(std::vector<id_list>& lists, uint32_t limit) {
  id_list out;
  out.more = merge_sorted(lists, &id_list::ids, limit, out.ids);
  return out;
}

} // namespace solver_state
