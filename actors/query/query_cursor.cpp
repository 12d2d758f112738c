// Cursors: "c1:<order_by>:<a|d>:<value>:<key>", where <value> is "k" in key
// order, "n<hexfloat>" for a number (exact: %La round-trips a long double)
// and "s<length>:<bytes>" for a string (which may hold ':'). The key is last
// and taken whole.

#include "actors/query/query_cursor.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

caf::error bad_cursor(const std::string& why) {
  return make_state_error(state_errc::bad_request, "cursor: " + why);
}

std::string prefix_of(const query_request& req) {
  return "c1:" + req.order_by + ":" + (req.descending ? "d" : "a") + ":";
}

} // namespace

int query_order::three_way(const index_value* va, std::string_view ka,
                           const index_value* vb, std::string_view kb) const {
  int c = 0;
  if (by_value && va && vb && *va != *vb)
    c = *va < *vb ? -1 : 1;
  if (c == 0)
    c = ka.compare(kb);
  return descending ? -c : c;
}

std::string encode_cursor(const query_request& req,
                          const query_position& pos) {
  auto out = prefix_of(req);
  if (!pos.value) {
    out += 'k';
  } else if (pos.value->is_number) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%La", pos.value->number);
    out += 'n';
    out += buf;
  } else {
    out += 's' + std::to_string(pos.value->text.size()) + ":"
           + pos.value->text;
  }
  out += ':';
  out += pos.key;
  return out;
}

caf::expected<std::optional<query_position>>
decode_cursor(const query_request& req) {
  const auto& c = req.cursor;
  if (c.empty())
    return std::optional<query_position>{};
  if (c.rfind("c1:", 0) != 0)
    return bad_cursor("not a cursor this service made (pass next_cursor "
                      "as it came)");
  auto head = prefix_of(req);
  if (c.rfind(head, 0) != 0)
    return bad_cursor("it belongs to a query with another order_by or "
                      "direction");
  size_t at = head.size();
  if (at >= c.size())
    return bad_cursor("truncated");
  query_position pos;
  char kind = c[at++];
  if (kind == 'k') {
    if (req.order_by.size() > 0)
      return bad_cursor("it belongs to a query in key order");
  } else if (kind == 'n') {
    auto end = c.find(':', at);
    if (end == std::string::npos)
      return bad_cursor("truncated");
    auto text = c.substr(at, end - at);
    char* parsed = nullptr;
    auto n = std::strtold(text.c_str(), &parsed);
    // No field is NaN (a query refuses one), and one in a cursor would
    // compare unordered with every value: pages that repeat or end early.
    // Infinity stays: a stored 1e400 is indexed as one.
    if (text.empty() || parsed != text.c_str() + text.size() || std::isnan(n))
      return bad_cursor("damaged number");
    pos.value = index_value::of(n);
    at = end;
  } else if (kind == 's') {
    auto colon = c.find(':', at);
    if (colon == std::string::npos)
      return bad_cursor("truncated");
    char* parsed = nullptr;
    auto digits = c.substr(at, colon - at);
    auto len = std::strtoull(digits.c_str(), &parsed, 10);
    if (digits.empty() || parsed != digits.c_str() + digits.size()
        || len > c.size() - colon - 1)
      return bad_cursor("damaged string");
    pos.value = index_value::of(c.substr(colon + 1, len));
    at = colon + 1 + len;
  } else {
    return bad_cursor("damaged");
  }
  if ((kind != 'k') != !req.order_by.empty())
    return bad_cursor("it belongs to a query with another order");
  if (at >= c.size() || c[at] != ':')
    return bad_cursor("truncated");
  pos.key = c.substr(at + 1);
  return std::optional<query_position>{std::move(pos)};
}

} // namespace solver_state
