// A shard's indexes: upkeep from committed changes, and query plans. A
// page is found by the cheapest of these walks:
//  - an eq/in condition's entries (each value's entries are in key order),
//    in key order or in that index's order: the walk stops one item past
//    the page, nothing is sorted;
//  - the order_by index from the cursor on, checking the conditions, also
//    stopping one item past the page (when an eq/in condition on another
//    index would match more keys than this walk is expected to visit, or
//    there is none);
//  - the matches of that eq/in condition collected and sorted by the
//    order_by field (when they are few enough);
//  - in key order with range or negative conditions only, the first
//    condition's matches (within its range) collected and sorted by key.

#include "actors/query/index_set.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "actors/query/query_cursor.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// Whether two key prefixes can name a common key.
bool overlap(std::string_view a, std::string_view b) {
  return starts_with(a, b) || starts_with(b, a);
}

uint32_t query_limit(uint32_t limit) {
  return limit == 0 || limit > max_query_page ? max_query_page : limit;
}

caf::error bad(std::string why) {
  return make_state_error(state_errc::bad_request, std::move(why));
}

std::optional<index_value> field_of(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string: {
      auto& s = v.get_string();
      return index_value::of(std::string{s.data(), s.size()});
    }
    case boost::json::kind::int64:
      return index_value::of(static_cast<long double>(v.get_int64()));
    case boost::json::kind::uint64:
      return index_value::of(static_cast<long double>(v.get_uint64()));
    case boost::json::kind::double_:
      return index_value::of(static_cast<long double>(v.get_double()));
    default:
      return std::nullopt;
  }
}

} // namespace

void extract_fields(std::string_view value,
                    const std::vector<std::string_view>& paths,
                    std::vector<std::optional<index_value>>& out) {
  out.assign(paths.size(), std::nullopt);
  // Not an object: not indexed, and no parse.
  auto first = value.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || value[first] != '{')
    return;
  unsigned char buffer[4096];
  boost::json::monotonic_resource mr{buffer, sizeof buffer};
  boost::json::error_code ec;
  auto doc = boost::json::parse(
    boost::json::string_view{value.data(), value.size()}, ec, &mr);
  if (ec || !doc.is_object())
    return;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (paths[i].empty())
      continue; // this index does not cover the key
    boost::json::error_code pec;
    auto found = doc.find_pointer(
      boost::json::string_view{paths[i].data(), paths[i].size()}, pec);
    if (found)
      out[i] = field_of(*found);
  }
}

std::vector<std::optional<index_value>>
extract_fields(std::string_view value,
               const std::vector<std::string_view>& paths) {
  std::vector<std::optional<index_value>> out;
  extract_fields(value, paths, out);
  return out;
}

// -- ordering -------------------------------------------------------------------

namespace {

/// <0, 0, >0 as a is before, equal to, after b: numbers first, then
/// strings; one comparison where == and < would take two.
int compare(const index_value& a, const index_value& b) {
  if (a.is_number != b.is_number)
    return a.is_number ? -1 : 1;
  if (a.is_number)
    return a.number < b.number ? -1 : b.number < a.number ? 1 : 0;
  return a.text.compare(b.text);
}

} // namespace

/// Orders the key of `e` against `key` (<0, 0, >0), reading the key's
/// bytes past the entry's head only when the heads tie.
int compare_key(std::string_view head, std::string_view key_of_head,
                std::string_view key) {
  auto n = std::min(head.size(), key.size());
  if (int c = std::memcmp(head.data(), key.data(), n); c != 0)
    return c;
  if (head.size() < key.size() && head.size() < key_of_head.size())
    return key_of_head.substr(n).compare(key.substr(n));
  return key_of_head.size() < key.size() ? -1 : key_of_head.size() > key.size();
}

index_set::entry::entry(index_value v, const node* n)
  : value(std::move(v)), key(n->first), owner(n) {
  head_len = static_cast<uint8_t>(std::min(key.size(), head_size));
  std::memcpy(head.data(), key.data(), head_len);
}

bool index_set::entry_less::operator()(const entry& a, const entry& b) const {
  if (auto c = compare(a.value, b.value); c != 0)
    return c < 0;
  if (int c = std::memcmp(a.head.data(), b.head.data(),
                          std::min(a.head_len, b.head_len));
      c != 0)
    return c < 0;
  return a.key < b.key; // heads tie: the rest of the keys decide
}

bool index_set::entry_less::operator()(const entry& a, const probe& b) const {
  if (auto c = compare(a.value, *b.value); c != 0)
    return c < 0;
  if (b.key_side != 0)
    return b.key_side > 0;
  return compare_key(a.head_view(), a.key, b.key) < 0;
}

bool index_set::entry_less::operator()(const probe& a, const entry& b) const {
  if (auto c = compare(*a.value, b.value); c != 0)
    return c < 0;
  if (a.key_side != 0)
    return a.key_side < 0;
  return compare_key(b.head_view(), b.key, a.key) > 0;
}

// -- upkeep ---------------------------------------------------------------------

index_set::index_set(std::vector<index_config> specs)
  : specs_(std::move(specs)), sets_(specs_.size()) {
}

bool index_set::covers(std::string_view key) const {
  for (auto& s : specs_)
    if (starts_with(key, s.prefix))
      return true;
  return false;
}

void index_set::touch_group(const node& n) const {
  if (!group_.valid)
    return;
  auto* f = field(n, group_.of_index);
  if (f && *f == group_.value) {
    group_.valid = false;
    group_.nodes.clear();
  }
}

void index_set::drop(key_map::iterator it) {
  auto* n = &*it;
  touch_group(*n);
  for (size_t i = 0; i < sets_.size(); ++i)
    if (n->second.fields[i] != sets_[i].end())
      sets_[i].erase(n->second.fields[i]);
  if (n->second.expires_at > 0)
    by_expiry_.erase({n->second.expires_at, n});
  keys_.erase(it);
}

void index_set::erase(const std::string& key) {
  if (auto it = keys_.find(key); it != keys_.end())
    drop(it);
}

void index_set::put(const std::string& key, version_t version,
                    std::string_view value, unix_ms expires_at) {
  auto it = keys_.find(key);
  if (it != keys_.end() && it->second.version > version)
    return; // a newer write is already here (an index build read late)
  // Only the paths of the indexes that cover the key (scratch space kept
  // between puts: a write should not cost allocations it can avoid).
  auto& paths = paths_scratch_;
  paths.assign(specs_.size(), std::string_view{});
  for (size_t i = 0; i < specs_.size(); ++i)
    if (starts_with(key, specs_[i].prefix))
      paths[i] = specs_[i].path;
  auto& fields = fields_scratch_;
  extract_fields(value, paths, fields);
  bool indexed = std::any_of(fields.begin(), fields.end(),
                             [](auto& f) { return f.has_value(); });
  if (!indexed) {
    if (it != keys_.end())
      drop(it);
    return;
  }
  if (it == keys_.end()) {
    record r;
    for (auto& s : sets_)
      r.fields.push_back(s.end());
    it = keys_.emplace(key, std::move(r)).first;
  }
  auto* n = &*it;
  auto& rec = it->second;
  touch_group(*n); // before: it may leave the group
  for (size_t i = 0; i < sets_.size(); ++i) {
    auto& old = rec.fields[i];
    bool had = old != sets_[i].end();
    if (had && fields[i] && compare(old->value, *fields[i]) == 0)
      continue;
    if (had && fields[i]) {
      // Moved within the index: the same node, reinserted (no free and
      // malloc per update).
      auto moved = sets_[i].extract(old);
      moved.value().value = std::move(*fields[i]);
      old = sets_[i].insert(std::move(moved)).position;
      continue;
    }
    if (had) {
      sets_[i].erase(old);
      old = sets_[i].end();
    }
    if (fields[i])
      old = sets_[i]
              .insert(entry{std::move(*fields[i]), n})
              .first;
  }
  touch_group(*n); // after: it may join it
  if (rec.expires_at != expires_at) {
    if (rec.expires_at > 0)
      by_expiry_.erase({rec.expires_at, n});
    rec.expires_at = expires_at;
    if (expires_at > 0)
      by_expiry_.insert({expires_at, n});
  }
  rec.version = version;
}

void index_set::apply(const change_event& ev) {
  if (!covers(ev.key))
    return;
  if (ev.why() == change_cause::put)
    put(ev.key, ev.version, ev.value, ev.expires_at_ms);
  else
    erase(ev.key);
}

size_t index_set::expire(unix_ms now) {
  size_t n = 0;
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    auto key = by_expiry_.begin()->second->first;
    erase(key);
    ++n;
  }
  return n;
}

// -- queries --------------------------------------------------------------------

std::optional<size_t> index_set::position_of(const std::string& name) const {
  for (size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i].name == name)
      return i;
  return std::nullopt;
}

caf::error index_set::problem(const query_request& req) const {
  auto declared = [&] {
    std::string names;
    for (auto& s : specs_)
      names += (names.empty() ? "" : ", ") + s.name;
    return names.empty() ? std::string{"none is declared (state.indexes)"}
                         : "declared: " + names;
  };
  auto check_index = [&](const std::string& name,
                         const std::string& where) -> caf::error {
    auto i = position_of(name);
    if (!i)
      return bad(where + ": no index named '" + name + "' (" + declared()
                 + ")");
    if (!overlap(req.prefix, specs_[*i].prefix))
      return bad(where + ": index '" + name + "' covers keys under '"
                 + specs_[*i].prefix + "', none of which is under '"
                 + req.prefix + "'");
    return {};
  };
  if (req.where.empty() && req.order_by.empty())
    return bad("a query needs a condition or an order_by (to list keys, use "
               "list or GET /v1/state?prefix=)");
  if (req.where.size() > 16)
    return bad("at most 16 conditions, got " + std::to_string(req.where.size()));
  for (size_t c = 0; c < req.where.size(); ++c) {
    auto& cond = req.where[c];
    auto where = "where[" + std::to_string(c) + "]";
    if (auto err = check_index(cond.index, where))
      return err;
    if (cond.op > static_cast<uint8_t>(query_op::exists))
      return bad(where + ": unknown operator");
    auto n = cond.values.size();
    switch (cond.what()) {
      case query_op::exists:
        if (n != 0)
          return bad(where + ": exists takes no value");
        break;
      case query_op::in:
      case query_op::nin:
        if (n == 0 || n > max_query_page)
          return bad(where + ": " + to_string(cond.what())
                     + " takes 1 to " + std::to_string(max_query_page)
                     + " values");
        break;
      default:
        if (n != 1)
          return bad(where + ": " + to_string(cond.what())
                     + " takes one value");
    }
    for (auto& v : cond.values)
      if (v.is_number && !std::isfinite(v.number))
        return bad(where + ": numbers must be finite");
  }
  if (!req.order_by.empty())
    if (auto err = check_index(req.order_by, "order_by"))
      return err;
  return {};
}

bool index_set::holds(const index_value* field, const resolved_condition& c) {
  if (!field)
    return false;
  auto& v = *field;
  auto& ref = c.values->empty() ? v : c.values->front();
  auto same_type = v.is_number == ref.is_number;
  switch (c.op) {
    case query_op::eq:
      return v == ref;
    case query_op::ne:
      return v != ref;
    case query_op::in:
      return std::find(c.values->begin(), c.values->end(), v)
             != c.values->end();
    case query_op::nin:
      return std::find(c.values->begin(), c.values->end(), v)
             == c.values->end();
    case query_op::lt:
      return same_type && v < ref;
    case query_op::lte:
      return same_type && !(ref < v);
    case query_op::gt:
      return same_type && ref < v;
    case query_op::gte:
      return same_type && !(v < ref);
    case query_op::exists:
      return true;
  }
  return false;
}

bool index_set::matches(const node& n, const query_request& req,
                        const std::vector<resolved_condition>& where,
                        unix_ms now) const {
  if (!starts_with(n.first, req.prefix))
    return false;
  if (n.second.expires_at > 0 && n.second.expires_at <= now)
    return false;
  for (auto& c : where)
    if (!holds(field(n, c.index), c))
      return false;
  return true;
}

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

  /// The order of (field va, key ka) and (vb, kb) as <0, 0, >0; the
  /// fields count only in an index's order. No copies: a page compares
  /// thousands of candidates.
  int order_of(const index_value* va, std::string_view ka,
               const index_value* vb, std::string_view kb) const {
    int c = order_index && va && vb ? compare(*va, *vb) : 0;
    if (c == 0)
      c = ka.compare(kb);
    return order.descending ? -c : c;
  }

  const index_value* sort_field(const node* n) const {
    return order_index ? set.field(*n, *order_index) : nullptr;
  }

  bool after_cursor(const node* n) const {
    if (!cursor)
      return true;
    auto* value = cursor->value ? &*cursor->value : nullptr;
    return order_of(value, cursor->key, sort_field(n), n->first) < 0;
  }

  bool take(const node* n) const {
    if (order_index && !set.field(*n, *order_index))
      return false;
    return after_cursor(n) && set.matches(*n, req, where, now);
  }

  /// Sorts what was found and keeps the first `wanted`.
  void sort_found() {
    auto less = [&](const node* a, const node* b) {
      return order_of(sort_field(a), a->first, sort_field(b), b->first) < 0;
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
    if (!descending) {
      auto it = after ? s.upper_bound(probe{&value, *after, 0})
                      : s.lower_bound(probe{&value, {}, -1});
      for (; it != s.end() && it->value == value; ++it)
        if (!visit(it->owner))
          return;
    } else {
      auto it = after ? s.lower_bound(probe{&value, *after, 0})
                      : s.upper_bound(probe{&value, {}, 1});
      while (it != s.begin()) {
        --it;
        if (it->value != value || !visit(it->owner))
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
                int c = compare(*set.field(*a, o), *set.field(*b, o));
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
      auto it = cursor ? s.upper_bound(probe{&*cursor->value, cursor->key, 0})
                       : s.begin();
      for (; it != s.end(); ++it)
        if (!visit(it->owner))
          return;
    } else {
      auto it = cursor ? s.lower_bound(probe{&*cursor->value, cursor->key, 0})
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
        it = s.lower_bound(probe{v, {}, -1});
      else if (c.op == query_op::lt || c.op == query_op::lte)
        end = s.upper_bound(probe{v, {}, 1});
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
    return bad("cursor: it belongs to a query in key order");
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
