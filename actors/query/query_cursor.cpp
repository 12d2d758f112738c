// Cursors: "c3:<digest>:<order_by>:<a|d>:<value>:<length>:<key>", where
// <digest> is 16 hex digits of the query's prefix and conditions
// (query_digest), <value> is "k" in key order, "n<hexfloat>" for a number
// (exact: %La round-trips a long double) and "s<length>:<bytes>" for a
// string (which may hold ':'), and the key is last, its length before it:
// a cursor cut short anywhere is refused, never read as an earlier
// position (pages that repeat). Older cursors are still read: "c2:", whose
// key is the rest of the cursor taken whole and whose digest took numbers
// as their nearest double, and "c1:", made before the digest was.

#include "actors/query/query_cursor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

caf::error bad_cursor(const std::string& why) {
  return make_state_error(state_errc::bad_request, "cursor: " + why);
}

void append_value(std::string& out, const index_value& v) {
  if (v.is_number) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%La", v.number);
    out += 'n';
    out += buf;
  } else {
    out += 's' + std::to_string(v.text.size()) + ":" + v.text;
  }
}

/// FNV-1a, 64 bits: the same on every node and in every version, which
/// std::hash does not promise.
uint64_t fnv1a(std::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char b : bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return h;
}

std::string order_part(const query_request& req) {
  return req.order_by + ":" + (req.descending ? "d" : "a") + ":";
}

std::string digest_part(uint64_t digest) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx:",
                static_cast<unsigned long long>(digest));
  return buf;
}

/// A condition's value as the digest takes it: the same text on every
/// node. %La is not (x86's long double prints 7 as 0xep-1, aarch64's as
/// 0x1.cp+2), so a whole number of at most 64 bits goes in as its decimal
/// digits, exactly (amounts in wei and 64-bit ids pass 2^53, where doubles
/// tie: a cursor of `eq 2^53 + 1` was taken by `eq 2^53`), and any other
/// number as the bits of its nearest double. `exact_integers` false: the
/// "c2:" digest, which took every number by its double.
void append_portable(std::string& out, const index_value& v,
                     bool exact_integers) {
  if (!v.is_number)
    return append_value(out, v);
  constexpr long double two_to_64 = 18446744073709551616.0L;
  auto magnitude = v.number < 0 ? -v.number : v.number;
  if (exact_integers && magnitude < two_to_64
      && std::floor(magnitude) == magnitude && magnitude != 0) {
    out += v.number < 0 ? "i-" : "i";
    out += std::to_string(static_cast<unsigned long long>(magnitude));
    return;
  }
  auto d = static_cast<double>(v.number);
  if (d == 0)
    d = 0; // -0 is 0
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  char buf[24];
  std::snprintf(buf, sizeof buf, "n%016llx",
                static_cast<unsigned long long>(bits));
  out += buf;
}

/// The decimal length at `at` in cursor `c` and the ':' after it, moving
/// `at` past them; nothing when there is none.
std::optional<size_t> read_length(const std::string& c, size_t& at) {
  auto colon = c.find(':', at);
  if (colon == std::string::npos)
    return std::nullopt;
  auto digits = c.substr(at, colon - at);
  char* parsed = nullptr;
  auto len = std::strtoull(digits.c_str(), &parsed, 10);
  if (digits.empty() || parsed != digits.c_str() + digits.size())
    return std::nullopt;
  at = colon + 1;
  return static_cast<size_t>(len);
}

/// query_digest, or with `exact_integers` false the digest of "c2:"
/// cursors.
uint64_t digest_of(const query_request& req, bool exact_integers) {
  std::vector<std::string> conditions;
  conditions.reserve(req.where.size());
  for (auto& c : req.where) {
    auto values = c.values;
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    auto text = std::to_string(c.index.size()) + ":" + c.index + ":"
                + std::to_string(c.op);
    for (auto& v : values) {
      text += ':';
      append_portable(text, v, exact_integers);
    }
    conditions.push_back(std::move(text));
  }
  std::sort(conditions.begin(), conditions.end());
  auto all = std::to_string(req.prefix.size()) + ":" + req.prefix;
  for (auto& c : conditions)
    all += "\n" + std::to_string(c.size()) + ":" + c;
  return fnv1a(all);
}

} // namespace

uint64_t query_digest(const query_request& req) {
  return digest_of(req, true);
}

uint64_t c2_query_digest(const query_request& req) {
  return digest_of(req, false);
}

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
  return encode_cursor(req, pos, query_digest(req));
}

std::string encode_cursor(const query_request& req, const query_position& pos,
                          uint64_t digest) {
  auto out = "c3:" + digest_part(digest) + order_part(req);
  if (!pos.value)
    out += 'k';
  else
    append_value(out, *pos.value);
  out += ':' + std::to_string(pos.key.size()) + ':';
  out += pos.key;
  return out;
}

caf::expected<std::optional<query_position>>
decode_cursor(const query_request& req) {
  // Only a c3 cursor needs the digest: made here, not for a first page
  // (a c2 cursor's is made in decode_cursor).
  if (req.cursor.rfind("c3:", 0) != 0)
    return decode_cursor(req.cursor, req, 0);
  return decode_cursor(req.cursor, req, query_digest(req));
}

caf::expected<std::optional<query_position>>
decode_cursor(const std::string& c, const query_request& req,
              uint64_t digest_of_req) {
  if (c.empty())
    return std::optional<query_position>{};
  bool sized = c.rfind("c3:", 0) == 0;
  bool tied = sized || c.rfind("c2:", 0) == 0;
  if (!tied && c.rfind("c1:", 0) != 0)
    return bad_cursor("not a cursor this service made (pass next_cursor "
                      "as it came)");
  auto digest = !tied    ? std::string{}
                : sized  ? digest_part(digest_of_req)
                         : digest_part(c2_query_digest(req));
  size_t at = 3 + digest.size();
  auto order = order_part(req);
  if (c.size() < at || c.compare(at, order.size(), order) != 0)
    return bad_cursor("it belongs to a query with another order_by or "
                      "direction");
  if (tied && c.compare(3, digest.size(), digest) != 0)
    return bad_cursor("it belongs to a query with another prefix or "
                      "other conditions");
  at += order.size();
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
    // Infinity is let through: no stored field is one (a 1e400 is not
    // indexed), so such a cursor only stands before or after every value.
    if (text.empty() || parsed != text.c_str() + text.size() || std::isnan(n))
      return bad_cursor("damaged number");
    pos.value = index_value::of(n);
    at = end;
  } else if (kind == 's') {
    auto len = read_length(c, at);
    if (!len || *len > c.size() - at)
      return bad_cursor("damaged string");
    pos.value = index_value::of(c.substr(at, *len));
    at += *len;
  } else {
    return bad_cursor("damaged");
  }
  if ((kind != 'k') != !req.order_by.empty())
    return bad_cursor("it belongs to a query with another order");
  if (at >= c.size() || c[at] != ':')
    return bad_cursor("truncated");
  ++at;
  if (sized) {
    auto len = read_length(c, at);
    if (!len || *len != c.size() - at)
      return bad_cursor("truncated or damaged key");
  }
  pos.key = c.substr(at);
  return std::optional<query_position>{std::move(pos)};
}

} // namespace solver_state
