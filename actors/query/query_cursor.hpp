#pragma once

// Where a query page ends, and the next one starts: the sort position of
// its last item (its field in the order_by index, and its key), written as
// an opaque cursor. Shards, nodes and mergers compare positions in the
// request's order to resume exactly after it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/expected.hpp>

#include "messages/query.hpp"

namespace solver_state {

/// A sort position: the order_by field (absent in key order) and the key.
struct query_position {
  std::optional<index_value> value;
  std::string key;
};

/// The order of a query's results.
struct query_order {
  bool by_value = false; // an order_by index; else key order
  bool descending = false;

  explicit query_order(const query_request& req)
    : by_value(!req.order_by.empty()), descending(req.descending) {
  }

  /// The order of (field va, key ka) and (vb, kb): <0, 0, >0. The fields
  /// count only in an index's order, and only when both are there. Views,
  /// no copies: a page compares thousands of candidates.
  int three_way(const index_value* va, std::string_view ka,
                const index_value* vb, std::string_view kb) const;

  /// True when `a` comes before `b`.
  bool before(const query_position& a, const query_position& b) const {
    return three_way(a.value ? &*a.value : nullptr, a.key,
                     b.value ? &*b.value : nullptr, b.key)
           < 0;
  }
};

/// What a cursor ties itself to: a digest of the keys `req` asks for, its
/// prefix and its conditions (in any order, and the values of an in or a
/// nin in any order). A cursor sent with a query that finds other keys
/// would resume it at a place that skips some of them; it is refused.
uint64_t query_digest(const query_request& req);

/// The digest "c2:" cursors carry (numbers by their nearest double), which
/// decode_cursor checks them against.
uint64_t c2_query_digest(const query_request& req);

/// The cursor that resumes `req` after `pos`.
std::string encode_cursor(const query_request& req, const query_position& pos);

/// The same with the request's query_digest made already: a page that
/// decodes its cursor and encodes the next one (or reads several owners'
/// cursors) digests its conditions once, an in's thousand values included.
std::string encode_cursor(const query_request& req, const query_position& pos,
                          uint64_t digest);

/// The position `req.cursor` resumes after; nothing for an empty cursor;
/// bad_request for a cursor that is not one of ours or belongs to a query
/// with another prefix, other conditions or another order.
caf::expected<std::optional<query_position>>
decode_cursor(const query_request& req);

/// The same for `cursor` (an owner's page's) in place of req.cursor, with
/// the request's query_digest made already.
caf::expected<std::optional<query_position>>
decode_cursor(const std::string& cursor, const query_request& req,
              uint64_t digest);

} // namespace solver_state
