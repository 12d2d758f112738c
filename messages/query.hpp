#pragma once

// Queries over declared indexes (state.indexes): which keys under a prefix
// have indexed fields that meet every condition, in key order or in the
// order of one index, a page at a time. An index maps each key under its
// prefix whose value is a JSON object to the string or number at a JSON
// pointer; a shard keeps its keys' entries in the same step as the writes,
// deletes, transactions and expiries that change them.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/values.hpp"

namespace solver_state {

/// The most items one query page holds (a larger or zero limit is this).
constexpr uint32_t max_query_page = 1'000;

/// A string or a number taken from a value, or named by a condition.
/// Numbers are kept as long double, which holds every int64 and uint64 and
/// every double exactly; strings compare bytewise; every number sorts
/// before every string.
struct index_value {
  bool is_number = false;
  long double number = 0;
  std::string text;

  static index_value of(long double n) { return {true, n, {}}; }
  static index_value of(std::string s) { return {false, 0, std::move(s)}; }
};

bool operator==(const index_value& a, const index_value& b);
bool operator<(const index_value& a, const index_value& b);
inline bool operator!=(const index_value& a, const index_value& b) {
  return !(a == b);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, index_value& x) {
  return f(caf::meta::type_name("solver_state::index_value"), x.is_number,
           x.number, x.text);
}

/// How a condition compares a key's indexed field with its values.
enum class query_op : uint8_t {
  eq = 0,  // equal to values[0]
  ne,      // has the field, not equal to values[0]
  in,      // equal to one of values
  nin,     // has the field, equal to none of values
  lt,      // less than values[0] (same type only)
  lte,
  gt,
  gte,
  exists,  // has the field (no values)
};

/// "eq", "ne", ...; and back (false for an unknown name).
const char* to_string(query_op op);
bool from_string(const std::string& name, query_op& op);

/// One condition on a declared index. Every condition requires the field:
/// a key without it (not JSON, field missing, not a string or number)
/// matches none.
struct query_condition {
  std::string index;
  uint8_t op = static_cast<uint8_t>(query_op::eq);
  std::vector<index_value> values;

  query_op what() const { return static_cast<query_op>(op); }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_condition& x) {
  return f(caf::meta::type_name("solver_state::query_condition"), x.index,
           x.op, x.values);
}

/// The keys under `prefix` whose fields meet every condition of `where`,
/// in the order of index `order_by` (ties by key), or in key order when it
/// is empty; `limit` items a page (0 or past max_query_page: that); the
/// page after `cursor` (a page's next_cursor, or empty for the first).
/// Paging is exact while writes go on: a key that matches throughout, with
/// the same sort value, is returned exactly once.
struct query_request {
  std::string prefix;
  std::vector<query_condition> where;
  std::string order_by;
  bool descending = false;
  uint32_t limit = 0;
  std::string cursor;
  bool with_values = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_request& x) {
  return f(caf::meta::type_name("solver_state::query_request"), x.prefix,
           x.where, x.order_by, x.descending, x.limit, x.cursor,
           x.with_values);
}

/// One key a query found: its version, its value when asked for, and its
/// field in the order_by index (what pages are merged and resumed by).
struct query_item {
  std::string key;
  version_t version = 0;
  std::string value;
  index_value sort_value;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_item& x) {
  return f(caf::meta::type_name("solver_state::query_item"), x.key,
           x.version, x.value, x.sort_value);
}

/// One page of a query; `next_cursor` resumes after its last item and is
/// empty when no more keys match.
struct query_page {
  std::vector<query_item> items;
  std::string next_cursor;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, query_page& x) {
  return f(caf::meta::type_name("solver_state::query_page"), x.items,
           x.next_cursor);
}

/// The solver's first question: the orders of `order_type` whose field in
/// index `status_index` is `status`, soonest first by index `by_index`
/// (a deadline, say), `limit` a page.
query_request orders_with_status(const std::string& order_type,
                                 const std::string& status_index,
                                 const std::string& status,
                                 const std::string& by_index,
                                 uint32_t limit = 100);

} // namespace solver_state
