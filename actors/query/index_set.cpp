// A shard's indexes: the order of entries,
// upkeep from committed changes, and what a query may ask. The plans that
// answer a query are in query_plan.cpp.

#include "actors/query/index_set.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "actors/query/query_cursor.hpp"
#include "messages/query_bounds.hpp"
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

caf::error bad(std::string why) {
  return make_state_error(state_errc::bad_request, std::move(why));
}

} // namespace

// -- ordering -------------------------------------------------------------------

// One comparison where == and < would take two.
int compare_values(const index_value& a, const index_value& b) {
  if (a.is_number != b.is_number)
    return a.is_number ? -1 : 1;
  if (a.is_number)
    return a.number < b.number ? -1 : b.number < a.number ? 1 : 0;
  return a.text.compare(b.text);
}

index_set::entry index_set::entry_of(size_t i, const node& n,
                                     const index_value& value) const {
  auto past_prefix = std::string_view{n.first}.substr(specs_[i].prefix.size());
  return {value_code::of(value), key_head::of(past_prefix), &n};
}

index_set::probe index_set::probe_at(size_t i, const index_value& value,
                                     std::string_view key,
                                     int key_side) const {
  probe p{&value, value_code::of(value), key, {}, false, key_side};
  if (starts_with(key, specs_[i].prefix)) {
    p.head = key_head::of(key.substr(specs_[i].prefix.size()));
    p.has_head = true;
  }
  return p;
}

bool index_set::same_value(const entry& e, size_t i, const probe& p) {
  if (compare(e.value, p.code) != 0)
    return false;
  return e.value.complete() || *field(*e.owner, i) == *p.value;
}

// -- upkeep ---------------------------------------------------------------------

index_set::index_set(std::vector<index_config> specs)
  : specs_(std::move(specs)) {
  sets_.reserve(specs_.size());
  for (size_t i = 0; i < specs_.size(); ++i)
    sets_.emplace_back(entry_less{i});
}

bool index_set::covers(std::string_view key) const {
  for (auto& s : specs_)
    if (starts_with(key, s.prefix))
      return true;
  return false;
}

void index_set::touch_group(const node& n) const {
  if (!group_.valid
      || n.first.compare(0, group_.prefix.size(), group_.prefix) != 0)
    return;
  auto* f = field(n, group_.of_index);
  if (f && *f == group_.value) {
    group_.valid = false;
    group_.members.clear();
  }
}

void index_set::drop(key_map::iterator it) {
  auto* n = &*it;
  touch_group(*n);
  for (size_t i = 0; i < sets_.size(); ++i)
    if (auto& f = n->second.fields[i])
      sets_[i].erase(entry_of(i, *n, *f));
  if (n->second.expires_at > 0)
    by_expiry_.erase({n->second.expires_at, n});
  keys_.erase(it);
}

void index_set::begin_pass() {
  in_pass_ = true;
  ++pass_;
  if (pass_ == 0) { // wrapped: no record may carry the new number
    for (auto& n : keys_)
      n.second.pass = 0;
    pass_ = 1;
  }
}

void index_set::keep_in_pass(const std::string& key) {
  if (!in_pass_)
    return;
  if (auto it = keys_.find(key); it != keys_.end())
    it->second.pass = pass_;
}

size_t index_set::end_pass() {
  if (!in_pass_)
    return 0;
  std::vector<key_map::iterator> unseen;
  for (auto it = keys_.begin(); it != keys_.end(); ++it)
    if (it->second.pass != pass_)
      unseen.push_back(it);
  in_pass_ = false;
  // Erasing from a node map leaves the other nodes (and iterators) alone.
  for (auto it : unseen)
    drop(it);
  return unseen.size();
}

void index_set::erase(const std::string& key) {
  if (auto it = keys_.find(key); it != keys_.end())
    drop(it);
}

void index_set::put(const std::string& key, version_t version,
                    std::string_view value, unix_ms expires_at) {
  auto it = keys_.find(key);
  // Only the paths of the indexes that cover the key (scratch space kept
  // between puts: a write should not cost allocations it can avoid).
  auto& paths = paths_scratch_;
  paths.assign(specs_.size(), std::string_view{});
  for (size_t i = 0; i < specs_.size(); ++i)
    if (starts_with(key, specs_[i].prefix))
      paths[i] = specs_[i].path;
  auto& fields = fields_scratch_;
  extract_fields(value, paths, fields);
  place(it, key, version, fields, expires_at);
}

std::optional<version_t> index_set::version_of(const std::string& key) const {
  if (auto it = keys_.find(key); it != keys_.end())
    return it->second.version;
  return std::nullopt;
}

void index_set::load_key(std::string key, version_t version,
                         std::vector<std::optional<index_value>> fields,
                         unix_ms expires_at) {
  fields.resize(specs_.size());
  // A field only where the index covers the key, as put extracts them.
  for (size_t i = 0; i < specs_.size(); ++i)
    if (!starts_with(key, specs_[i].prefix))
      fields[i].reset();
  if (std::none_of(fields.begin(), fields.end(),
                   [](auto& f) { return f.has_value(); }))
    return;
  record r{version, expires_at, std::move(fields)};
  keys_.insert_or_assign(std::move(key), std::move(r));
}

void index_set::finish_loading() {
  std::vector<entry> sorted;
  sorted.reserve(keys_.size());
  for (size_t i = 0; i < sets_.size(); ++i) {
    sorted.clear();
    for (auto& n : keys_)
      if (auto* f = field(n, i))
        sorted.push_back(entry_of(i, n, *f));
    std::sort(sorted.begin(), sorted.end(), entry_less{i});
    // In order, each insert lands at the end: no search down the tree.
    sets_[i].insert(sorted.begin(), sorted.end());
  }
  for (auto& n : keys_)
    if (n.second.expires_at > 0)
      by_expiry_.insert({n.second.expires_at, &n});
}

void index_set::place(key_map::iterator it, const std::string& key,
                      version_t version,
                      std::vector<std::optional<index_value>>& fields,
                      unix_ms expires_at) {
  bool indexed = std::any_of(fields.begin(), fields.end(),
                             [](auto& f) { return f.has_value(); });
  if (!indexed) {
    if (it != keys_.end())
      drop(it);
    return;
  }
  if (it == keys_.end()) {
    record r;
    r.fields.resize(specs_.size());
    it = keys_.emplace(key, std::move(r)).first;
  }
  auto* n = &*it;
  auto& rec = it->second;
  touch_group(*n); // before: it may leave the group
  for (size_t i = 0; i < sets_.size(); ++i) {
    auto& old = rec.fields[i];
    auto& now = fields[i];
    if (old && now && compare_values(*old, *now) == 0)
      continue;
    // The entry leaves the order while the record still holds the value
    // it was placed by (the order reads it when codes tie).
    if (old)
      sets_[i].erase(entry_of(i, *n, *old));
    old = std::move(now);
    if (old)
      sets_[i].insert(entry_of(i, *n, *old));
  }
  touch_group(*n); // after: it may join it
  if (in_pass_)
    rec.pass = pass_;
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

void index_set::each(const key_visitor& visit) const {
  for (auto& [key, rec] : keys_)
    visit(key, rec.version, rec.expires_at, rec.fields);
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
  if (req.where.size() > max_query_conditions)
    return bad("at most " + std::to_string(max_query_conditions)
               + " conditions, got " + std::to_string(req.where.size()));
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
    for (auto& v : cond.values) {
      if (v.is_number && !std::isfinite(v.number))
        return bad(where + ": numbers must be finite");
      // eq of a longer string can match no key: say why rather than
      // answer nothing. Other operators mean something with it (ne and
      // nin match every indexed key, a range compares bytewise, an in's
      // other values may match), and take it as it is.
      if (cond.what() == query_op::eq && !v.is_number
          && v.text.size() > max_indexed_string_bytes)
        return bad(where + ": eq of a string of "
                   + std::to_string(v.text.size())
                   + " bytes; indexes hold strings of at most "
                   + std::to_string(max_indexed_string_bytes)
                   + " bytes (longer fields are not indexed)");
    }
  }
  if (!req.order_by.empty())
    if (auto err = check_index(req.order_by, "order_by"))
      return err;
  return {};
}

std::vector<index_set::resolved_condition>
index_set::resolve(const query_request& req,
                   std::vector<std::vector<index_value>>& sorted) const {
  sorted.clear();
  sorted.reserve(req.where.size()); // pointers into it are handed out
  std::vector<resolved_condition> out;
  out.reserve(req.where.size());
  for (auto& c : req.where) {
    const std::vector<index_value>* values = &c.values;
    if (c.what() == query_op::in || c.what() == query_op::nin) {
      auto& vs = sorted.emplace_back(c.values);
      std::sort(vs.begin(), vs.end());
      vs.erase(std::unique(vs.begin(), vs.end()), vs.end());
      values = &vs;
    }
    out.push_back({*position_of(c.index), c.what(), values});
  }
  return out;
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
      return std::binary_search(c.values->begin(), c.values->end(), v);
    case query_op::nin:
      return !std::binary_search(c.values->begin(), c.values->end(), v);
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

} // namespace solver_state
