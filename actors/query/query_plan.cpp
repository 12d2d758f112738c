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
#include <optional>
#include <string>
#include <string_view>

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

  /// A key found for the page: what the page takes of it, from its record
  /// or from the sorted group's copy.
  struct hit {
    const std::string* key;
    version_t version;
    const index_value* sort; // in key order: nullptr
  };
  std::vector<hit> found;

  const index_value* sort_field(const node* n) const {
    return order_index ? set.field(*n, *order_index) : nullptr;
  }

  hit hit_of(const node* n) const {
    return {&n->first, n->second.version, sort_field(n)};
  }

  hit hit_of(const sorted_group::member& m) const {
    return {&m.key, m.version, order_index ? &m.sort : nullptr};
  }

  query_position position(const hit& h) const {
    query_position p;
    if (order_index)
      p.value = *h.sort;
    p.key = *h.key;
    return p;
  }

  bool after_cursor(const index_value* sort, const std::string& key) const {
    if (!cursor)
      return true;
    auto* value = cursor->value ? &*cursor->value : nullptr;
    return order.three_way(value, cursor->key, sort, key) < 0;
  }

  bool after_cursor(const node* n) const {
    return after_cursor(sort_field(n), n->first);
  }

  bool take(const node* n) const {
    if (order_index && !set.field(*n, *order_index))
      return false;
    return after_cursor(n) && set.matches(*n, req, where, now);
  }

  /// Sorts what was found and keeps the first `wanted`.
  void sort_found() {
    auto less = [&](const hit& a, const hit& b) {
      return order.three_way(a.sort, *a.key, b.sort, *b.key) < 0;
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
    std::vector<index_value> vs = *c.values; // sorted, unique (resolve)
    if (order.descending)
      std::reverse(vs.begin(), vs.end());
    return vs;
  }

  /// Walks the entries of `value` in index `i` in key order (descending
  /// too), from `after` on, calling `visit` until it returns false. Only
  /// the keys under `prefix`: a value's entries are in key order, so the
  /// walk starts at the prefix and ends where it does (an index on
  /// "order:" holds the pending orders of every type; a query of one
  /// type's must not visit the others').
  template <class Visit>
  void walk_value(size_t i, const index_value& value, bool descending,
                  const std::string* after, std::string_view prefix,
                  Visit visit) const {
    auto& s = set.sets_[i];
    auto at = [&](std::string_view key, int side) {
      return set.probe_at(i, value, key, side);
    };
    auto same = at({}, 0);
    auto in_prefix = [&](const node* n) {
      return std::string_view{n->first}.substr(0, prefix.size()) == prefix;
    };
    auto& visits = set.visits_;
    if (!descending) {
      auto it = after && *after >= prefix ? s.upper_bound(at(*after, 0))
                : prefix.empty()        ? s.lower_bound(at({}, -1))
                                        : s.lower_bound(at(prefix, 0));
      for (; it != s.end() && same_value(*it, i, same); ++it) {
        ++visits;
        if (!in_prefix(it->owner) || !visit(it->owner))
          return; // past the prefix: every key after it is too
      }
    } else {
      auto end = prefix_end(prefix);
      auto it = after && (!end || *after < *end) ? s.lower_bound(at(*after, 0))
                : end ? s.lower_bound(at(*end, 0))
                      : s.upper_bound(at({}, 1));
      while (it != s.begin()) {
        --it;
        ++visits;
        if (!same_value(*it, i, same) || !in_prefix(it->owner)
            || !visit(it->owner))
          return; // below the prefix: every key before it is too
      }
    }
  }

  /// The least key above every key under `prefix`; none when every key
  /// from the prefix on is under it (empty, or all 0xff bytes).
  static std::optional<std::string> prefix_end(std::string_view prefix) {
    std::string end{prefix};
    while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff)
      end.pop_back();
    if (end.empty())
      return std::nullopt;
    end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
    return end;
  }

  /// Each driving value's matches, each walk stopping at `wanted`; the
  /// union sorted. Right when the walks are in the result's order: key
  /// order, or the driving index is the order_by index. Ordered by the
  /// driving index, every value's keys sort after the last value's: once
  /// `wanted` are found the walks end. In key order, once `wanted` are
  /// found a walk stops at the last key the page keeps: an `in` of many
  /// values costs about a page or two, not a page per value.
  void by_values(const resolved_condition& c) {
    const std::string* bound = nullptr; // key order: the page's last key
    auto before_bound = [&](const std::string& key) {
      return !bound || (order.descending ? key > *bound : key < *bound);
    };
    for (auto& v : values_of(c)) {
      if (order_index && found.size() >= wanted)
        break;
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
      walk_value(c.index, v, order.descending, after, req.prefix,
                 [&](const node* n) {
        if (!before_bound(n->first))
          return false; // this value's keys from here on are past the page
        if (take(n)) {
          found.push_back(hit_of(n));
          ++taken;
        }
        // Ordered by this index, the page is whole at `wanted`; in key
        // order a later key of this value may still come before an
        // earlier value's.
        return taken < wanted && !(order_index && found.size() >= wanted);
      });
      if (!order_index && found.size() >= wanted) {
        sort_found(); // keeps the first `wanted`
        bound = found.back().key;
      }
    }
    sort_found();
  }

  /// Counts the matches of an eq/in condition under the query's prefix, up
  /// to `cap`.
  size_t count_values(const resolved_condition& c, size_t cap) const {
    size_t n = 0;
    for (auto& v : *c.values) {
      walk_value(c.index, v, false, nullptr, req.prefix, [&](const node*) {
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
           && g.value == c.values->front() && g.prefix == req.prefix;
  }

  /// Memoizes the keys of the driving value (having the order_by field),
  /// sorted by that field and key.
  void build_group(const resolved_condition& c) {
    auto& g = set.group_;
    g.valid = false;
    g.members.clear();
    auto o = *order_index;
    auto& v = c.values->front();
    // The value's keys under the query's prefix: the memo serves the next
    // pages and queries of this prefix (counted below the walk's cap).
    walk_value(c.index, v, false, nullptr, req.prefix, [&](const node* n) {
      if (auto* sort = set.field(*n, o))
        g.members.push_back({n, n->first, n->second.version,
                             n->second.expires_at, *sort});
      return true;
    });
    using member = sorted_group::member;
    std::sort(g.members.begin(), g.members.end(),
              [&](const member& a, const member& b) {
                int c = compare_values(a.sort, b.sort);
                return c != 0 ? c < 0 : a.key < b.key;
              });
    g.of_index = c.index;
    g.value = v;
    g.by_index = o;
    g.prefix = req.prefix;
    g.valid = true;
  }

  /// Whether group member `m` (after the cursor) is taken: with the
  /// driving condition alone, the copies tell; other conditions read the
  /// record.
  bool take_member(const sorted_group::member& m) const {
    if (where.size() > 1)
      return set.matches(*m.n, req, where, now);
    return m.key.compare(0, req.prefix.size(), req.prefix) == 0
           && (m.expires_at == 0 || m.expires_at > now);
  }

  /// The memoized keys from the cursor on (a binary search), checking the
  /// other conditions, until one past the page.
  void by_group() {
    using member = sorted_group::member;
    auto& members = set.group_.members;
    auto after = [&](const member& m) { return after_cursor(&m.sort, m.key); };
    auto& visits = set.visits_;
    if (!order.descending) {
      auto it = cursor ? std::partition_point(
                           members.begin(), members.end(),
                           [&](const member& m) { return !after(m); })
                       : members.begin();
      for (; it != members.end() && found.size() < wanted; ++it, ++visits)
        if (take_member(*it))
          found.push_back(hit_of(*it));
    } else {
      // Descending, the keys after the cursor are a prefix of the
      // ascending memo.
      auto end = cursor ? std::partition_point(members.begin(), members.end(),
                                               after)
                        : members.end();
      while (end != members.begin() && found.size() < wanted) {
        --end;
        ++visits;
        if (take_member(*end))
          found.push_back(hit_of(*end));
      }
    }
  }

  /// Every match of an eq/in condition after the cursor, sorted, cut.
  void collect_values(const resolved_condition& c) {
    for (auto& v : values_of(c))
      walk_value(c.index, v, false, nullptr, req.prefix, [&](const node* n) {
        if (take(n))
          found.push_back(hit_of(n));
        return true;
      });
    sort_found();
  }

  /// The order_by index from the cursor on.
  void by_order_index() {
    auto i = *order_index;
    auto& s = set.sets_[i];
    auto visit = [&](const node* n) {
      ++set.visits_;
      if (take(n))
        found.push_back(hit_of(n));
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
    for (; it != end; ++it, ++set.visits_)
      if (take(it->owner)) {
        found.push_back(hit_of(it->owner));
        // Only the first `wanted` in the page's order can be kept: past
        // twice that, the rest go, so a condition that a million keys meet
        // holds two pages of hits, not a million (24 bytes each).
        if (found.size() >= 2 * wanted)
          sort_found();
      }
    sort_found();
  }
};

caf::expected<query_page> index_set::run(const query_request& req,
                                         unix_ms now) const {
  visits_ = 0;
  if (auto err = problem(req))
    return err;
  auto digest = query_digest(req); // to read this cursor and make the next
  auto cursor = decode_cursor(req.cursor, req, digest);
  if (!cursor)
    return std::move(cursor.error());
  plan p{*this, req, now, {}, {}, query_order{req}, std::move(*cursor),
         size_t{query_limit(req.limit)} + 1, {}};
  std::vector<std::vector<index_value>> sorted;
  p.where = resolve(req, sorted);
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
  for (auto& h : p.found) {
    query_item item;
    item.key = *h.key;
    item.version = h.version;
    if (p.order_index)
      item.sort_value = *h.sort;
    page.items.push_back(std::move(item));
  }
  if (more)
    page.next_cursor =
      encode_cursor(req, p.position(p.found.back()), digest);
  return page;
}

std::optional<version_t>
index_set::still_matches(const query_request& req,
                         const resolved_query& conditions,
                         const query_item& item, unix_ms now) const {
  auto it = keys_.find(item.key);
  if (it == keys_.end())
    return std::nullopt;
  if (!matches(*it, req, conditions.where_, now))
    return std::nullopt;
  if (!req.order_by.empty()) {
    auto* sort = field(*it, *position_of(req.order_by));
    if (!sort || *sort != item.sort_value)
      return std::nullopt;
  }
  return it->second.version;
}

} // namespace solver_state
