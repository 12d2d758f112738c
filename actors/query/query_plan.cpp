// Query plans over a shard's indexes. A page is found by the cheapest of
// these walks:
//  - an eq/in condition's entries (each value's entries are in key order),
//    in key order or in that index's order: the walk stops one item past
//    the page, nothing is sorted;
//  - the order_by index from the cursor on, checking the conditions, also
//    stopping one item past the page (when an eq/in condition on another
//    index would match more keys than this walk is expected to visit, or
//    there is none);
//  - the keys of one eq value sorted by the order_by field, memoized
//    between pages until a write changes one of them (when they are few
//    enough); several in values: their matches collected and sorted;
//  - in key order with range or negative conditions only, the first
//    condition's matches (within its range) collected and sorted by key.

#include <algorithm>
#include <cmath>

#include "actors/query/index_set.hpp"
#include "actors/query/query_cursor.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

uint32_t query_limit(uint32_t limit) {
  return limit == 0 || limit > max_query_page ? max_query_page : limit;
}

} // namespace

/// What one query runs with: its conditions resolved to index positions,
/// its order, its cursor, and the items found so far.
struct index_set::plan {
  const index_set& set;
  const query_request& req;
  unix_ms now;
  std::vector<resolved_condition> where;
  std::optional<size_t> order_index;
  query_order order;
  std::optional<query_position> cursor;
  size_t wanted; // the page limit plus one: one more tells there are more
  std::vector<const node*> found;

  query_position position(const node* n) const {
    query_position p;
    if (order_index)
      p.value = *set.field(*n, *order_index);
    p.key = n->first;
    return p;
  }

  const index_value* sort_field(const node* n) const {
    return order_index ? set.field(*n, *order_index) : nullptr;
  }

  bool after_cursor(const node* n) const {
    if (!cursor)
      return true;
    auto* value = cursor->value ? &*cursor->value : nullptr;
    return order.three_way(value, cursor->key, sort_field(n), n->first) < 0;
  }

  bool take(const node* n) const {
    if (order_index && !set.field(*n, *order_index))
      return false;
    return after_cursor(n) && set.matches(*n, req, where, now);
  }

  /// Sorts what was found and keeps the first `wanted`.
  void sort_found() {
    auto less = [&](const node* a, const node* b) {
      return order.three_way(sort_field(a), a->first, sort_field(b),
                             b->first)
             < 0;
    };
    if (found.size() > wanted) {
      std::partial_sort(found.begin(), found.begin() + wanted, found.end(),
                        less);
      found.resize(wanted);
    } else {
      std::sort(found.begin(), found.end(), less);
    }
  }

  /// The eq/in condition whose values drive the walk, if any: the one on
  /// the order_by index when there is one, else the first.
  std::optional<resolved_condition> driver() const {
    std::optional<resolved_condition> out;
    for (auto& c : where)
      if (c.op == query_op::eq || c.op == query_op::in) {
        if (order_index && c.index == *order_index)
          return c;
        if (!out)
          out = c;
      }
    return out;
  }

  /// The values of an eq/in condition, in the walk's order.
  std::vector<index_value> values_of(const resolved_condition& c) const {
    std::vector<index_value> vs = *c.values;
    std::sort(vs.begin(), vs.end());
    vs.erase(std::unique(vs.begin(), vs.end()), vs.end());
    if (order.descending)
      std::reverse(vs.begin(), vs.end());
    return vs;
  }

  /// Walks the entries of `value` in index `i` in key order (descending
  /// too), from `after` on, calling `visit` until it returns false.
  template <class Visit>
  void walk_value(size_t i, const index_value& value, bool descending,
                  const std::string* after, Visit visit) const {
    auto& s = set.sets_[i];
    auto at = [&](std::string_view key, int side) {
      return set.probe_at(i, value, key, side);
    };
    auto same = at({}, 0);
    if (!descending) {
      auto it = after ? s.upper_bound(at(*after, 0)) : s.lower_bound(at({}, -1));
      for (; it != s.end() && same_value(*it, i, same); ++it)
        if (!visit(it->owner))
          return;
    } else {
      auto it = after ? s.lower_bound(at(*after, 0)) : s.upper_bound(at({}, 1));
      while (it != s.begin()) {
        --it;
        if (!same_value(*it, i, same) || !visit(it->owner))
          return;
      }
    }
  }

  /// Each driving value's matches, each walk stopping at `wanted`; the
  /// union sorted. Right when the walks are in the result's order: key
  /// order, or the driving index is the order_by index.
  void by_values(const resolved_condition& c) {
    for (auto& v : values_of(c)) {
      const std::string* after = nullptr;
      if (cursor) {
        if (order_index) { // == c.index: skip the values before the cursor's
          if (*cursor->value != v) {
            if (order.before(query_position{v, {}},
                             query_position{cursor->value, {}}))
              continue;
          } else {
            after = &cursor->key;
          }
        } else {
          after = &cursor->key;
        }
      }
      size_t taken = 0;
      walk_value(c.index, v, order.descending, after, [&](const node* n) {
        if (take(n)) {
          found.push_back(n);
          ++taken;
        }
        return taken < wanted;
      });
    }
    sort_found();
  }

  /// Counts the matches of an eq/in condition, up to `cap`.
  size_t count_values(const resolved_condition& c, size_t cap) const {
    size_t n = 0;
    for (auto& v : *c.values) {
      walk_value(c.index, v, false, nullptr, [&](const node*) {
        return ++n < cap;
      });
      if (n >= cap)
        break;
    }
    return n;
  }

  /// The memo of the driving value's keys sorted by the order_by field is
  /// there for this query.
  bool group_ready(const resolved_condition& c) const {
    auto& g = set.group_;
    return g.valid && g.of_index == c.index && g.by_index == *order_index
           && g.value == c.values->front();
  }

  /// Memoizes the keys of the driving value (having the order_by field),
  /// sorted by that field and key.
  void build_group(const resolved_condition& c) {
    auto& g = set.group_;
    g.valid = false;
    g.nodes.clear();
    auto o = *order_index;
    auto& v = c.values->front();
    walk_value(c.index, v, false, nullptr, [&](const node* n) {
      if (set.field(*n, o))
        g.nodes.push_back(n);
      return true;
    });
    std::sort(g.nodes.begin(), g.nodes.end(),
              [&](const node* a, const node* b) {
                int c = compare_values(*set.field(*a, o), *set.field(*b, o));
                return c != 0 ? c < 0 : a->first < b->first;
              });
    g.of_index = c.index;
    g.value = v;
    g.by_index = o;
    g.valid = true;
  }

  /// The memoized keys from the cursor on (a binary search), checking the
  /// other conditions, until one past the page.
  void by_group() {
    auto& nodes = set.group_.nodes;
    if (!order.descending) {
      auto it = cursor ? std::partition_point(
                           nodes.begin(), nodes.end(),
                           [&](const node* n) { return !after_cursor(n); })
                       : nodes.begin();
      for (; it != nodes.end() && found.size() < wanted; ++it)
        if (take(*it))
          found.push_back(*it);
    } else {
      // Descending, the keys after the cursor are a prefix of the
      // ascending memo.
      auto end = cursor ? std::partition_point(
                            nodes.begin(), nodes.end(),
                            [&](const node* n) { return after_cursor(n); })
                        : nodes.end();
      while (end != nodes.begin() && found.size() < wanted) {
        --end;
        if (take(*end))
          found.push_back(*end);
      }
    }
  }

  /// Every match of an eq/in condition after the cursor, sorted, cut.
  void collect_values(const resolved_condition& c) {
    for (auto& v : values_of(c))
      walk_value(c.index, v, false, nullptr, [&](const node* n) {
        if (take(n))
          found.push_back(n);
        return true;
      });
    sort_found();
  }

  /// The order_by index from the cursor on.
  void by_order_index() {
    auto i = *order_index;
    auto& s = set.sets_[i];
    auto visit = [&](const node* n) {
      if (take(n))
        found.push_back(n);
      return found.size() < wanted;
    };
    if (!order.descending) {
      auto it = cursor ? s.upper_bound(
                           set.probe_at(i, *cursor->value, cursor->key, 0))
                       : s.begin();
      for (; it != s.end(); ++it)
        if (!visit(it->owner))
          return;
    } else {
      auto it = cursor ? s.lower_bound(
                           set.probe_at(i, *cursor->value, cursor->key, 0))
                       : s.end();
      while (it != s.begin())
        if (!visit((--it)->owner))
          return;
    }
  }

  /// Key order and no eq/in condition: the first condition's index walked
  /// (within its bound when it is a range), the matches sorted by key. It
  /// costs the keys that index holds in that range, every page.
  void by_first_condition() {
    auto& c = where.front();
    auto& s = set.sets_[c.index];
    auto it = s.begin();
    auto end = s.end();
    if (!c.values->empty()) {
      auto* v = &c.values->front();
      if (c.op == query_op::gt || c.op == query_op::gte)
        it = s.lower_bound(set.probe_at(c.index, *v, {}, -1));
      else if (c.op == query_op::lt || c.op == query_op::lte)
        end = s.upper_bound(set.probe_at(c.index, *v, {}, 1));
    }
    for (; it != end; ++it)
      if (take(it->owner))
        found.push_back(it->owner);
    sort_found();
  }
};

caf::expected<query_page> index_set::run(const query_request& req,
                                         unix_ms now) const {
  if (auto err = problem(req))
    return err;
  auto cursor = decode_cursor(req);
  if (!cursor)
    return std::move(cursor.error());
  plan p{*this, req, now, {}, {}, query_order{req}, std::move(*cursor),
         size_t{query_limit(req.limit)} + 1, {}};
  for (auto& c : req.where)
    p.where.push_back({*position_of(c.index), c.what(), &c.values});
  if (!req.order_by.empty())
    p.order_index = position_of(req.order_by);
  if (p.cursor && p.order_index && !p.cursor->value)
    return make_state_error(state_errc::bad_request,
                            "cursor: it belongs to a query in key order");
  auto driver = p.driver();
  if (driver && (!p.order_index || driver->index == *p.order_index)) {
    p.by_values(*driver);
  } else if (driver) {
    // Collecting every match costs about their number; walking the order
    // costs about wanted / (their share of the order index).
    auto order_size = sets_[*p.order_index].size();
    auto cap = static_cast<size_t>(
                 std::sqrt(static_cast<double>(p.wanted) * order_size))
               + p.wanted;
    bool one_value = driver->values->size() == 1;
    if (one_value && p.group_ready(*driver))
      p.by_group();
    else if (p.count_values(*driver, cap) >= cap)
      p.by_order_index();
    else if (one_value)
      p.build_group(*driver), p.by_group();
    else
      p.collect_values(*driver);
  } else if (p.order_index) {
    p.by_order_index();
  } else {
    p.by_first_condition();
  }
  query_page page;
  bool more = p.found.size() > query_limit(req.limit);
  if (more)
    p.found.resize(query_limit(req.limit));
  page.items.reserve(p.found.size());
  for (auto* n : p.found) {
    query_item item;
    item.key = n->first;
    item.version = n->second.version;
    if (p.order_index)
      item.sort_value = *field(*n, *p.order_index);
    page.items.push_back(std::move(item));
  }
  if (more)
    page.next_cursor = encode_cursor(req, p.position(p.found.back()));
  return page;
}

} // namespace solver_state
