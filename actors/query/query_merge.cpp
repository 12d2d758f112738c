#include "actors/query/query_merge.hpp"

#include <algorithm>
#include <iterator>

#include "actors/query/query_cursor.hpp"

namespace solver_state {

namespace {

/// `a` comes before `b` in the request's order.
bool item_before(const query_order& order, const query_item& a,
                 const query_item& b) {
  return order.three_way(&a.sort_value, a.key, &b.sort_value, b.key) < 0;
}

/// `item` comes after `pos`.
bool after(const query_order& order, const query_position& pos,
           const query_item& item) {
  auto* v = pos.value ? &*pos.value : nullptr;
  return order.three_way(v, pos.key, &item.sort_value, item.key) < 0;
}

query_position position_of(const query_request& req, const query_item& item) {
  query_position p;
  if (!req.order_by.empty())
    p.value = item.sort_value;
  p.key = item.key;
  return p;
}

/// Where an owner's page ends, read back from its cursor.
std::optional<query_position> end_of(const query_request& req,
                                     uint64_t digest, const query_page& page) {
  if (page.next_cursor.empty())
    return std::nullopt;
  auto pos = decode_cursor(page.next_cursor, req, digest);
  if (!pos || !*pos)
    return std::nullopt; // not ours: cannot happen between our own owners
  return std::move(**pos);
}

} // namespace

query_page merge_query_pages(std::vector<query_page>& pages,
                             const query_request& req,
                             size_t max_reply_bytes) {
  query_order order{req};
  auto less = [&](const query_item& a, const query_item& b) {
    return item_before(order, a, b);
  };
  // An owner with more has returned everything up to its cursor, and
  // nothing after: past the earliest such cursor, items may be missing.
  auto digest = query_digest(req); // owners' cursors are tied to it too
  std::optional<query_position> boundary;
  for (auto& page : pages)
    if (auto end = end_of(req, digest, page))
      if (!boundary || order.before(*end, *boundary))
        boundary = std::move(end);
  query_page out;
  size_t total = 0;
  for (auto& page : pages)
    total += page.items.size();
  out.items.reserve(total);
  for (auto& page : pages)
    for (auto& item : page.items)
      if (!boundary || !after(order, *boundary, item))
        out.items.push_back(std::move(item));
  auto limit = req.limit == 0 || req.limit > max_query_page ? max_query_page
                                                             : req.limit;
  // Only the first `limit` need their order.
  if (out.items.size() > limit) {
    std::partial_sort(out.items.begin(), out.items.begin() + limit,
                      out.items.end(), less);
  } else {
    std::sort(out.items.begin(), out.items.end(), less);
  }
  // A key handed to a new cluster member is found by both nodes until its
  // old copy is dropped (actors/cluster/handoff.hpp): copies hold the same
  // value, so they sort next to each other; one of each is kept.
  auto sorted_end = out.items.begin() + std::min<size_t>(limit,
                                                         out.items.size());
  auto same_key = [](const query_item& a, const query_item& b) {
    return a.key == b.key;
  };
  auto unique_end = std::unique(out.items.begin(), sorted_end, same_key);
  // Only the sorted part may go on the page: the erase pulls unsorted items
  // into the first `limit` places, and a page of one of them would set its
  // cursor past smaller keys that were never returned.
  auto sorted = static_cast<size_t>(unique_end - out.items.begin());
  out.items.erase(unique_end, sorted_end);
  size_t keep = 0, bytes = 0;
  for (; keep < sorted && keep < limit; ++keep) {
    bytes += out.items[keep].value.size();
    if (keep > 0 && bytes > max_reply_bytes)
      break;
  }
  if (keep < out.items.size()) {
    out.items.resize(keep);
    out.next_cursor =
      encode_cursor(req, position_of(req, out.items.back()), digest);
  } else if (boundary) {
    out.next_cursor = encode_cursor(req, *boundary, digest);
  }
  return out;
}

query_page assemble_confirmed(query_page merged,
                              const std::vector<uint32_t>& owner_of,
                              std::vector<query_page>& confirmed,
                              const query_request& req,
                              size_t max_reply_bytes) {
  query_page out;
  std::vector<size_t> next(confirmed.size(), 0); // per owner: its next item
  size_t bytes = 0;
  bool cut = false;
  for (size_t i = 0; i < merged.items.size(); ++i) {
    auto& part = confirmed[owner_of[i]];
    auto& at = next[owner_of[i]];
    if (at < part.items.size() && part.items[at].key == merged.items[i].key) {
      auto& item = part.items[at++];
      if (!out.items.empty() && bytes + item.value.size() > max_reply_bytes) {
        cut = true;
        break;
      }
      bytes += item.value.size();
      out.items.push_back(std::move(item));
    } else if (at == part.items.size() && !part.next_cursor.empty()) {
      cut = true; // past what this owner's budget let through
      break;
    }
  }
  if (cut && !out.items.empty())
    out.next_cursor = encode_cursor(req, position_of(req, out.items.back()));
  else
    out.next_cursor = std::move(merged.next_cursor);
  return out;
}

} // namespace solver_state
