// A shard's indexes on their own (actors/query/): queries checked against a
// brute-force evaluation of the same data: random keys, random queries
// (every operator, every plan, both directions), paged through their
// cursors, on one index set and split over several merged as a fan-out
// merges them.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "actors/query/index_set.hpp"
#include "actors/query/query_cursor.hpp"
#include "actors/query/query_merge.hpp"
#include "messages/errors.hpp"
#include "messages/query_bounds.hpp"

using namespace solver_state;

namespace {

std::vector<index_config> specs() {
  return {{"status", "o:", "/status"},
          {"deadline", "o:", "/deadline"},
          {"chain", "o:", "/route/chain"}};
}

/// What the test knows of a key: its fields, as the JSON it wrote.
struct doc {
  std::optional<index_value> status, deadline, chain;
  version_t version = 0;
};

std::string json_of(const index_value& v) {
  if (v.is_number) {
    if (v.number == std::floor(v.number))
      return std::to_string(static_cast<long long>(v.number));
    char out[64];
    std::snprintf(out, sizeof out, "%.17g", static_cast<double>(v.number));
    return out;
  }
  return "\"" + v.text + "\"";
}

std::string render(const doc& d) {
  std::string out = "{";
  auto add = [&](const char* name, const std::optional<index_value>& v) {
    if (!v)
      return;
    if (out.size() > 1)
      out += ",";
    out += std::string{"\""} + name + "\":" + json_of(*v);
  };
  add("status", d.status);
  add("deadline", d.deadline);
  if (d.chain)
    out += std::string{out.size() > 1 ? "," : ""} + "\"route\":{\"chain\":"
           + json_of(*d.chain) + "}";
  return out + "}";
}

const std::optional<index_value>& field_of(const doc& d,
                                           const std::string& index) {
  return index == "status" ? d.status : index == "deadline" ? d.deadline
                                                            : d.chain;
}

bool holds(const std::optional<index_value>& f, const query_condition& c) {
  if (!f)
    return false;
  auto& v = *f;
  auto& r = c.values.empty() ? v : c.values[0];
  bool same = v.is_number == r.is_number;
  auto in = std::find(c.values.begin(), c.values.end(), v) != c.values.end();
  switch (c.what()) {
    case query_op::eq: return v == r;
    case query_op::ne: return v != r;
    case query_op::in: return in;
    case query_op::nin: return !in;
    case query_op::lt: return same && v < r;
    case query_op::lte: return same && !(r < v);
    case query_op::gt: return same && r < v;
    case query_op::gte: return same && !(v < r);
    case query_op::exists: return true;
  }
  return false;
}

/// The answer, by brute force: every matching key in the request's order.
std::vector<std::string> expected(const std::map<std::string, doc>& docs,
                                  const query_request& req) {
  std::vector<std::string> out;
  for (auto& [key, d] : docs) {
    if (key.rfind(req.prefix, 0) != 0)
      continue;
    if (!d.status && !d.deadline && !d.chain)
      continue;
    if (!req.order_by.empty() && !field_of(d, req.order_by))
      continue;
    bool ok = true;
    for (auto& c : req.where)
      ok = ok && holds(field_of(d, c.index), c);
    if (ok)
      out.push_back(key);
  }
  query_order order{req};
  auto pos = [&](const std::string& key) {
    query_position p;
    if (!req.order_by.empty())
      p.value = field_of(docs.at(key), req.order_by);
    p.key = key;
    return p;
  };
  std::sort(out.begin(), out.end(), [&](auto& a, auto& b) {
    return order.before(pos(a), pos(b));
  });
  return out;
}

index_value random_status(std::mt19937_64& rng) {
  // Two names that share their first 14 bytes: the index's entries tell
  // them apart by the values, not by their codes.
  static const char* names[] = {"pending", "filled", "expired", "settled",
                                "settlement-on-chain-1",
                                "settlement-on-chain-2"};
  return index_value::of(std::string{names[rng() % 6]});
}

index_value random_deadline(std::mt19937_64& rng) {
  if (rng() % 8 == 0)
    return index_value::of(std::string{rng() % 2 ? "soon" : "later"});
  if (rng() % 8 == 0) // negative and fractional (exact in binary)
    return index_value::of(static_cast<long double>(rng() % 40) / 4 - 5);
  return index_value::of(static_cast<long double>(rng() % 40));
}

/// A key under "o:": short, or long with 16 bytes past the prefix shared
/// by many (the index orders those by the rest of the key).
std::string random_key(std::mt19937_64& rng) {
  auto n = std::to_string(rng() % 600);
  return rng() % 3 == 0 ? "o:" + std::string{"shared-16-bytes-"} + n : "o:" + n;
}

doc random_doc(std::mt19937_64& rng) {
  doc d;
  if (rng() % 6)
    d.status = random_status(rng);
  if (rng() % 5)
    d.deadline = random_deadline(rng);
  if (rng() % 3 == 0)
    d.chain = index_value::of(std::string{rng() % 2 ? "eth" : "base"});
  return d;
}

query_condition random_condition(std::mt19937_64& rng) {
  static const char* indexes[] = {"status", "deadline", "chain"};
  query_condition c;
  c.index = indexes[rng() % 3];
  auto op = static_cast<query_op>(rng() % 9);
  c.op = static_cast<uint8_t>(op);
  auto value = [&] {
    if (c.index == "status")
      return random_status(rng);
    if (c.index == "deadline")
      return random_deadline(rng);
    return index_value::of(std::string{rng() % 2 ? "eth" : "base"});
  };
  if (op == query_op::in || op == query_op::nin) {
    auto n = 1 + rng() % 3;
    for (size_t i = 0; i < n; ++i)
      c.values.push_back(value());
  } else if (op != query_op::exists) {
    c.values.push_back(value());
  }
  return c;
}

query_request random_query(std::mt19937_64& rng) {
  static const char* orders[] = {"", "status", "deadline", "chain"};
  query_request req;
  req.prefix = rng() % 4 ? "o:" : rng() % 2 ? "o:1" : "o:shared-16-bytes-1";
  auto conditions = rng() % 3;
  for (size_t i = 0; i < conditions; ++i)
    req.where.push_back(random_condition(rng));
  req.order_by = orders[rng() % 4];
  if (req.where.empty() && req.order_by.empty())
    req.order_by = "deadline";
  req.descending = rng() % 2;
  req.limit = 1 + rng() % 15;
  return req;
}

/// Pages through `req` on `page_of` (one page per call); the keys.
template <class PageOf>
std::vector<std::string> page_through(query_request req, PageOf page_of) {
  std::vector<std::string> out;
  for (int i = 0; i < 1000; ++i) {
    auto page = page_of(req);
    REQUIRE(page);
    REQUIRE(page->items.size() <= req.limit);
    for (auto& item : page->items)
      out.push_back(item.key);
    if (page->next_cursor.empty())
      return out;
    req.cursor = page->next_cursor;
  }
  FAIL("endless paging");
  return out;
}

std::string describe(const query_request& req) {
  std::string out = "prefix=" + req.prefix + " order_by=" + req.order_by
                    + (req.descending ? " desc" : " asc")
                    + " limit=" + std::to_string(req.limit);
  for (auto& c : req.where) {
    out += " [" + c.index + " " + to_string(c.what());
    for (auto& v : c.values)
      out += " " + json_of(v);
    out += "]";
  }
  return out;
}

} // namespace

TEST_CASE("index values: numbers before strings, numbers by value, strings "
          "bytewise") {
  auto n = [](long double x) { return index_value::of(x); };
  auto s = [](std::string x) { return index_value::of(std::move(x)); };
  CHECK(n(-1) < n(0));
  CHECK(n(10) < n(9e9));
  CHECK(n(1e30) < s(""));
  CHECK(s("B") < s("a"));
  CHECK(s("a") < s("ab"));
  CHECK(n(1) == n(1.0));
  CHECK(s("1") != n(1));
}

TEST_CASE("queries agree with a brute-force evaluation: every operator and "
          "plan, both directions, page by page, with and without updates") {
  std::mt19937_64 rng{GENERATE(1u, 2u, 3u, 4u, 5u)};
  index_set set{specs()};
  std::map<std::string, doc> docs;
  version_t version = 0;
  auto write = [&](const std::string& key, doc d) {
    d.version = ++version;
    set.put(key, d.version, render(d), 0);
    docs[key] = d;
  };
  for (int i = 0; i < 400; ++i)
    write(random_key(rng), random_doc(rng));
  write("x:outside", random_doc(rng));
  for (int q = 0; q < 300; ++q) {
    auto req = random_query(rng);
    INFO(describe(req));
    auto got = page_through(req, [&](const query_request& r) {
      return set.run(r, 1);
    });
    CHECK(got == expected(docs, req));
    // Deletes and rewrites, then again.
    for (int i = 0; i < 10; ++i) {
      auto key = random_key(rng);
      if (rng() % 3 == 0) {
        set.erase(key);
        docs.erase(key);
      } else {
        write(key, random_doc(rng));
      }
    }
  }
  // The set holds every key under its prefix with a field, and no other.
  size_t with_fields = 0;
  for (auto& [key, d] : docs)
    with_fields += key.rfind("o:", 0) == 0 && (d.status || d.deadline
                                               || d.chain);
  CHECK(set.keys() == with_fields);
}

TEST_CASE("pages of several owners merge into the pages of one") {
  std::mt19937_64 rng{GENERATE(11u, 12u, 13u)};
  std::vector<std::unique_ptr<index_set>> owners;
  for (int i = 0; i < 3; ++i)
    owners.push_back(std::make_unique<index_set>(specs()));
  index_set whole{specs()};
  std::map<std::string, doc> docs;
  for (int i = 0; i < 300; ++i) {
    auto key = random_key(rng);
    auto d = random_doc(rng);
    d.version = i + 1;
    auto owner = std::hash<std::string>{}(key) % owners.size();
    // A key rewritten lands on the same owner.
    owners[owner]->put(key, d.version, render(d), 0);
    docs[key] = d;
  }
  for (int q = 0; q < 200; ++q) {
    auto req = random_query(rng);
    INFO(describe(req));
    auto got = page_through(req, [&](const query_request& r)
                              -> caf::expected<query_page> {
      std::vector<query_page> pages;
      for (auto& o : owners) {
        auto page = o->run(r, 1);
        if (!page)
          return page;
        pages.push_back(std::move(*page));
      }
      return merge_query_pages(pages, r);
    });
    CHECK(got == expected(docs, req));
  }
}

TEST_CASE("keys past their expiry are never answered and are forgotten") {
  index_set set{specs()};
  set.put("o:1", 1, R"({"status":"pending"})", 1000);
  set.put("o:2", 2, R"({"status":"pending"})", 0);
  query_request req;
  req.prefix = "o:";
  req.where = {{"status", static_cast<uint8_t>(query_op::eq),
                {index_value::of(std::string{"pending"})}}};
  auto before = set.run(req, 999);
  REQUIRE(before);
  CHECK(before->items.size() == 2);
  auto after = set.run(req, 1000);
  REQUIRE(after);
  REQUIRE(after->items.size() == 1);
  CHECK(after->items[0].key == "o:2");
  CHECK(set.keys() == 2);
  CHECK(set.expire(1000) == 1);
  CHECK(set.keys() == 1);
  // A rewrite without a TTL keeps the key past the old expiry.
  set.put("o:2", 3, R"({"status":"pending"})", 500);
  set.put("o:2", 4, R"({"status":"pending"})", 0);
  CHECK(set.expire(10'000) == 0);
  CHECK(set.keys() == 1);
}

TEST_CASE("one value's keys sorted by another field, kept between pages, "
          "answer as the records do, with expiry and a narrower prefix") {
  index_set set{specs()};
  // Few enough pending keys for the sorted list (eq status, by deadline).
  for (int i = 0; i < 6; ++i) {
    auto key = std::string{i < 3 ? "o:a:" : "o:b:"} + std::to_string(i);
    set.put(key, i + 1,
            R"({"status":"pending","deadline":)" + std::to_string(60 - i)
              + "}",
            i == 4 ? 1000 : 0);
  }
  query_request req;
  req.prefix = "o:";
  req.where = {{"status", static_cast<uint8_t>(query_op::eq),
                {index_value::of(std::string{"pending"})}}};
  req.order_by = "deadline";
  auto keys_at = [&](const query_request& r, unix_ms now) {
    auto page = set.run(r, now);
    REQUIRE(page);
    std::vector<std::string> out;
    for (auto& item : page->items)
      out.push_back(item.key);
    return out;
  };
  using keys = std::vector<std::string>;
  CHECK(keys_at(req, 999)
        == keys{"o:b:5", "o:b:4", "o:b:3", "o:a:2", "o:a:1", "o:a:0"});
  // No write since: the same sorted list, read at a later time.
  CHECK(keys_at(req, 1000) == keys{"o:b:5", "o:b:3", "o:a:2", "o:a:1", "o:a:0"});
  auto narrow = req;
  narrow.prefix = "o:a:";
  CHECK(keys_at(narrow, 1000) == keys{"o:a:2", "o:a:1", "o:a:0"});
  narrow.descending = true;
  narrow.limit = 2;
  auto page = set.run(narrow, 1000);
  REQUIRE(page);
  REQUIRE(page->items.size() == 2);
  CHECK(page->items[0].key == "o:a:0");
  CHECK(page->items[0].version == 1);
  CHECK(page->items[0].sort_value == index_value::of(60.0L));
  narrow.cursor = page->next_cursor;
  CHECK(keys_at(narrow, 1000) == keys{"o:a:2"});
}

TEST_CASE("the last put wins, whatever its version") {
  // On a shared Redis each instance numbers its writes from a block of its
  // own: a later write can carry a lower version than the one it replaces.
  index_set set{specs()};
  set.put("o:1", 5000, R"({"status":"other instance"})", 0);
  set.put("o:1", 4, R"({"status":"later"})", 0);
  CHECK(set.version_of("o:1") == version_t{4});
  CHECK_FALSE(set.version_of("o:2"));
  query_request req;
  req.prefix = "o:";
  req.order_by = "status";
  auto page = set.run(req, 0);
  REQUIRE(page);
  REQUIRE(page->items.size() == 1);
  CHECK(page->items[0].version == 4);
  CHECK(page->items[0].sort_value == index_value::of(std::string{"later"}));
}

TEST_CASE("a string longer than an index holds is not indexed, cursors stay "
          "small, an eq naming one is refused, other operators answer") {
  index_set set{specs()};
  auto longest = std::string(max_indexed_string_bytes, 's');
  auto too_long = std::string(max_indexed_string_bytes + 1, 's');
  set.put("o:1", 1, R"({"status":")" + longest + R"("})", 0);
  set.put("o:2", 2, R"({"status":")" + too_long + R"(","deadline":7})", 0);
  set.put("o:3", 3, R"({"status":"b"})", 0);
  query_request req;
  req.prefix = "o:";
  req.order_by = "status";
  req.limit = 1;
  std::vector<std::string> keys;
  size_t longest_cursor = 0;
  while (true) {
    auto page = set.run(req, 0);
    REQUIRE(page);
    for (auto& item : page->items)
      keys.push_back(item.key);
    longest_cursor = std::max(longest_cursor, page->next_cursor.size());
    if (page->next_cursor.empty())
      break;
    req.cursor = page->next_cursor;
  }
  // o:2's status is not indexed; its deadline is.
  CHECK(keys == std::vector<std::string>{"o:3", "o:1"});
  CHECK(longest_cursor < 2 * max_indexed_string_bytes);
  query_request by_deadline;
  by_deadline.prefix = "o:";
  by_deadline.order_by = "deadline";
  auto page = set.run(by_deadline, 0);
  REQUIRE(page);
  REQUIRE(page->items.size() == 1);
  CHECK(page->items[0].key == "o:2");
  query_request naming;
  naming.prefix = "o:";
  naming.where.push_back({"status", static_cast<uint8_t>(query_op::eq),
                          {index_value::of(too_long)}});
  auto refused = set.run(naming, 0);
  REQUIRE_FALSE(refused);
  CHECK_THAT(message_of(refused.error()),
             Catch::Contains("indexes hold strings of at most 4096 bytes"));
  naming.where[0].values[0] = index_value::of(longest);
  CHECK(set.run(naming, 0));
  // Other operators mean something with a long string, and answer it.
  auto keys_where = [&](query_op op, std::vector<index_value> values) {
    query_request q;
    q.prefix = "o:";
    q.order_by = "status";
    q.where.push_back({"status", static_cast<uint8_t>(op), std::move(values)});
    auto got = set.run(q, 0);
    REQUIRE(got);
    std::vector<std::string> out;
    for (auto& item : got->items)
      out.push_back(item.key);
    return out;
  };
  auto long_a = index_value::of(std::string(5000, 'a'));
  CHECK(keys_where(query_op::ne, {long_a})
        == std::vector<std::string>{"o:3", "o:1"});
  CHECK(keys_where(query_op::gt, {long_a})
        == std::vector<std::string>{"o:3", "o:1"});
  CHECK(keys_where(query_op::lt, {long_a}).empty());
  CHECK(keys_where(query_op::in, {long_a, index_value::of(std::string{"b"})})
        == std::vector<std::string>{"o:3"});
  CHECK(keys_where(query_op::nin, {long_a})
        == std::vector<std::string>{"o:3", "o:1"});
}

TEST_CASE("cursors round-trip every sort value exactly, and refuse another "
          "query's order") {
  query_request req;
  req.order_by = "deadline";
  for (auto v : {index_value::of(0.1L), index_value::of(-3e300L),
                 index_value::of(18446744073709551615.0L),
                 index_value::of(std::string{"with:colons:\n"}),
                 index_value::of(std::string{})}) {
    req.cursor = encode_cursor(req, {v, "o:{g}:key:with:colons"});
    auto back = decode_cursor(req);
    REQUIRE(back);
    REQUIRE(*back);
    CHECK((*back)->value == v);
    CHECK((*back)->key == "o:{g}:key:with:colons");
  }
  auto other = req;
  other.descending = true;
  CHECK_FALSE(decode_cursor(other));
  other = req;
  other.order_by.clear();
  CHECK_FALSE(decode_cursor(other));
  req.cursor = "c1:deadline:a:s99:x";
  CHECK_FALSE(decode_cursor(req));
  // No field is NaN: a cursor with one is damaged. Infinity is a field (a
  // stored 1e400) and round-trips.
  for (auto nan : {"nan", "-nan", "NAN"}) {
    req.cursor = std::string{"c1:deadline:a:n"} + nan + ":x";
    INFO(req.cursor);
    CHECK_FALSE(decode_cursor(req));
  }
  auto inf = index_value::of(static_cast<long double>(HUGE_VAL));
  req.cursor = encode_cursor(req, {inf, "x"});
  auto back = decode_cursor(req);
  REQUIRE(back);
  REQUIRE(*back);
  CHECK((*back)->value == inf);
}

TEST_CASE("a cursor is tied to its query's prefix and conditions, written "
          "in any order") {
  query_request req;
  req.prefix = "o:";
  req.order_by = "deadline";
  req.where = {{"status", static_cast<uint8_t>(query_op::in),
                {index_value::of(std::string{"b"}),
                 index_value::of(std::string{"a"})}},
               {"deadline", static_cast<uint8_t>(query_op::gt),
                {index_value::of(3.0L)}}};
  req.cursor = encode_cursor(req, {index_value::of(7.0L), "o:7"});
  REQUIRE(decode_cursor(req));
  auto refused = [](const query_request& other) {
    auto got = decode_cursor(other);
    REQUIRE_FALSE(got);
    CHECK(message_of(got.error()).find("another prefix or other conditions")
          != std::string::npos);
  };
  auto other = req;
  other.prefix = "o:1";
  refused(other);
  other = req;
  other.where[1].values[0] = index_value::of(4.0L);
  refused(other);
  other = req;
  other.where[1].op = static_cast<uint8_t>(query_op::gte);
  refused(other);
  other = req;
  other.where.pop_back();
  refused(other);
  other = req;
  other.where[0].values[0] = index_value::of(2.0L); // a number, not "b"
  refused(other);
  // The same keys asked for another way: conditions swapped, an in's
  // values reordered and repeated.
  auto same = req;
  std::swap(same.where[0], same.where[1]);
  same.where[1].values = {index_value::of(std::string{"a"}),
                          index_value::of(std::string{"b"}),
                          index_value::of(std::string{"a"})};
  auto back = decode_cursor(same);
  REQUIRE(back);
  REQUIRE(*back);
  CHECK((*back)->key == "o:7");
  // -0 is 0: the same query.
  auto zero = req;
  zero.where[1].values[0] = index_value::of(0.0L);
  auto minus_zero = zero;
  minus_zero.where[1].values[0] = index_value::of(-0.0L);
  CHECK(query_digest(zero) == query_digest(minus_zero));
  CHECK(query_digest(zero) != query_digest(req));
  // A cursor made before cursors were tied (c1) is still read.
  req.cursor = "c1:deadline:a:n0x1.cp+2:o:7";
  back = decode_cursor(req);
  REQUIRE(back);
  REQUIRE(*back);
  CHECK((*back)->value == index_value::of(7.0L));
  CHECK((*back)->key == "o:7");
}

// The key was the rest of the cursor taken whole: a cursor cut inside the
// key decoded as an earlier position, and the next page repeated items.
TEST_CASE("a cursor cut short or lengthened anywhere is refused") {
  query_request req;
  req.prefix = "order:";
  req.order_by = "deadline";
  req.where = {{"status", static_cast<uint8_t>(query_op::eq),
                {index_value::of(std::string{"pending"})}}};
  for (auto& pos : {query_position{index_value::of(7.5L), "order:abc"},
                    query_position{index_value::of(std::string{"a:b"}),
                                   "order:x:1"}}) {
    auto whole = encode_cursor(req, pos);
    req.cursor = whole;
    REQUIRE(decode_cursor(req));
    for (size_t n = 1; n < whole.size(); ++n) {
      req.cursor = whole.substr(0, n);
      INFO(req.cursor);
      CHECK_FALSE(decode_cursor(req));
    }
    req.cursor = whole + "d";
    CHECK_FALSE(decode_cursor(req));
  }
  req.order_by.clear();
  auto keyed = encode_cursor(req, {std::nullopt, "order:abc"});
  req.cursor = keyed.substr(0, keyed.size() - 1);
  CHECK_FALSE(decode_cursor(req));
}

// The digest took numbers by their nearest double: queries for 2^53 and
// 2^53 + 1 (wei amounts, 64-bit ids) took each other's cursors.
TEST_CASE("whole numbers past 2^53 tie a cursor to their query exactly") {
  query_request a;
  a.order_by = "amount";
  a.where = {{"amount", static_cast<uint8_t>(query_op::eq),
              {index_value::of(9007199254740993.0L)}}};
  auto b = a;
  b.where[0].values = {index_value::of(9007199254740992.0L)};
  CHECK(query_digest(a) != query_digest(b));
  b.cursor = encode_cursor(a, {index_value::of(9007199254740993.0L), "k"});
  CHECK_FALSE(decode_cursor(b));
  auto negative = a;
  negative.where[0].values = {index_value::of(-9007199254740993.0L)};
  CHECK(query_digest(negative) != query_digest(a));
}

TEST_CASE("a cursor of the format before (c2) is still read, against the "
          "digest it was made with") {
  query_request req;
  req.order_by = "deadline";
  // A whole number past 2^53: the two digests differ.
  req.where = {{"deadline", static_cast<uint8_t>(query_op::gt),
                {index_value::of(9007199254740993.0L)}}};
  REQUIRE(c2_query_digest(req) != query_digest(req));
  auto c2_cursor = [&](uint64_t digest) {
    char hex[24];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(digest));
    return std::string{"c2:"} + hex + ":deadline:a:n0x1.cp+2:o:7";
  };
  req.cursor = c2_cursor(c2_query_digest(req));
  auto back = decode_cursor(req);
  REQUIRE(back);
  REQUIRE(*back);
  CHECK((*back)->value == index_value::of(7.0L));
  CHECK((*back)->key == "o:7");
  req.cursor = c2_cursor(query_digest(req)); // never made by a c2 node
  CHECK_FALSE(decode_cursor(req));
}

TEST_CASE("a walk of an eq value visits only the keys under the query's "
          "prefix, in both directions") {
  // The index is on "o:"; a query of "o:b:" must not visit the pending
  // keys of "o:a:" and "o:c:".
  index_set set{specs()};
  version_t version = 0;
  for (auto group : {"o:a:", "o:c:"})
    for (int i = 0; i < 5000; ++i)
      set.put(group + std::to_string(i), ++version,
              R"({"status":"pending"})", 0);
  for (int i = 0; i < 10; ++i)
    set.put("o:b:" + std::to_string(i), ++version, R"({"status":"pending"})",
            0);
  for (bool descending : {false, true}) {
    query_request req;
    req.prefix = "o:b:";
    req.where.push_back(query_condition{
      "status", static_cast<uint8_t>(query_op::eq),
      {index_value::of(std::string{"pending"})}});
    req.descending = descending;
    req.limit = 4;
    std::vector<std::string> keys;
    for (int page = 0; page < 10; ++page) {
      auto got = set.run(req, 1);
      REQUIRE(got);
      CHECK(set.visits() <= 6);
      for (auto& item : got->items)
        keys.push_back(item.key);
      if (got->next_cursor.empty())
        break;
      req.cursor = got->next_cursor;
    }
    CHECK(keys.size() == 10);
  }
}

TEST_CASE("an eq value ordered by another index visits about the page's "
          "keys under the query's prefix, not the other prefixes' keys") {
  // The index is on "o:"; "o:big:" holds 20000 pending orders, "o:rare:"
  // 30. Paging the rare ones by deadline must neither walk the deadline
  // index past the big ones' entries nor read a memo of every pending key.
  index_set set{specs()};
  version_t version = 0;
  for (int i = 0; i < 20000; ++i)
    set.put("o:big:" + std::to_string(i), ++version,
            R"({"status":"pending","deadline":)" + std::to_string(i) + "}", 0);
  for (int i = 0; i < 30; ++i)
    set.put("o:rare:" + std::to_string(i), ++version,
            R"({"status":"pending","deadline":)" + std::to_string(50000 - i)
              + "}",
            0);
  // Before: nothing, a query of the big prefix, one whose memo holds 11
  // of the rare keys (those under "o:rare:1"), which must not serve "o:rare:".
  for (std::string first : {"", "o:big:", "o:rare:1"})
    for (bool descending : {false, true}) {
      INFO("after a query of '" << first << "'"
                                << (descending ? ", descending" : ""));
      query_request req;
      req.where.push_back(query_condition{
        "status", static_cast<uint8_t>(query_op::eq),
        {index_value::of(std::string{"pending"})}});
      req.order_by = "deadline";
      req.descending = descending;
      req.limit = 10;
      if (!first.empty()) { // may leave a memo of its own behind
        req.prefix = first;
        REQUIRE(set.run(req, 1));
      }
      req.prefix = "o:rare:";
      std::vector<std::string> keys;
      size_t most_visits = 0;
      for (int page = 0; page < 10; ++page) {
        auto got = set.run(req, 1);
        REQUIRE(got);
        most_visits = std::max(most_visits, set.visits());
        for (auto& item : got->items)
          keys.push_back(item.key);
        if (got->next_cursor.empty())
          break;
        req.cursor = got->next_cursor;
      }
      REQUIRE(keys.size() == 30);
      // Ascending deadlines are descending key numbers.
      CHECK(keys.front() == (descending ? "o:rare:0" : "o:rare:29"));
      CHECK(most_visits <= 2 * (30 + 11));
    }
}

TEST_CASE("an in of many values costs about a page, not a page per value, "
          "in key order and ordered by its index, both directions") {
  // 20 statuses, 200 keys each, in blocks of keys: a page of the first
  // keys holds one status, so the other values' walks end at their first
  // key (key order), or are not walked at all (ordered by status).
  index_set set{specs()};
  version_t version = 0;
  std::vector<index_value> statuses;
  for (int s = 0; s < 20; ++s)
    statuses.push_back(index_value::of("s" + std::to_string(10 + s)));
  for (int i = 0; i < 4000; ++i)
    set.put("o:" + std::to_string(10000 + i), ++version,
            R"({"status":"s)" + std::to_string(10 + i / 200) + R"("})", 0);
  for (bool by_status : {false, true})
    for (bool descending : {false, true}) {
      INFO((by_status ? "by status" : "in key order")
           << (descending ? ", descending" : ""));
      query_request req;
      req.prefix = "o:";
      req.where.push_back(query_condition{
        "status", static_cast<uint8_t>(query_op::in), statuses});
      if (by_status)
        req.order_by = "status";
      req.descending = descending;
      req.limit = 50;
      std::vector<std::string> keys;
      size_t most_visits = 0;
      for (int page = 0; page < 100; ++page) {
        auto got = set.run(req, 1);
        REQUIRE(got);
        most_visits = std::max(most_visits, set.visits());
        for (auto& item : got->items)
          keys.push_back(item.key);
        if (got->next_cursor.empty())
          break;
        req.cursor = got->next_cursor;
      }
      // Every key once, in the order asked (keys and statuses sort alike).
      REQUIRE(keys.size() == 4000);
      for (size_t i = 1; i < keys.size(); ++i)
        CHECK((descending ? keys[i - 1] > keys[i] : keys[i - 1] < keys[i]));
      // A page of 50 (51 looked for) and one step into each other value;
      // in key order, a page across two values may take 51 from each
      // before the page's last key is known. The old walks took 51 from
      // each of the 20 values (1,020).
      CHECK(most_visits <= (by_status ? 51 + 20 : 2 * 51 + 20));
    }
}
