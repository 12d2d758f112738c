// Merging the owners' query pages, and putting their confirmations of a
// merged page back in its order (the second half of a query over several
// shards).

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "actors/query/query_cursor.hpp"
#include "actors/query/query_merge.hpp"

using namespace solver_state;

namespace {

query_item item(std::string key, long double deadline, size_t bytes = 0) {
  query_item out;
  out.key = std::move(key);
  out.version = 1;
  out.value = std::string(bytes, 'v');
  out.sort_value = index_value::of(deadline);
  return out;
}

query_request by_deadline() {
  query_request req;
  req.order_by = "deadline";
  req.limit = 10;
  return req;
}

std::vector<std::string> keys_of(const query_page& page) {
  std::vector<std::string> out;
  for (auto& i : page.items)
    out.push_back(i.key);
  return out;
}

/// The key the page's cursor resumes after.
std::string cursor_key(query_request req, const query_page& page) {
  req.cursor = page.next_cursor;
  auto at = decode_cursor(req);
  REQUIRE(at);
  REQUIRE(*at);
  return (*at)->key;
}

/// A merged page of o:a..o:e (deadlines 1..5) owned alternately by owners
/// 0 and 1, with a merged cursor after o:e.
struct merged_page {
  query_request req = by_deadline();
  query_page merged;
  std::vector<uint32_t> owner_of{0, 1, 0, 1, 0};

  merged_page() {
    merged.items = {item("o:a", 1), item("o:b", 2), item("o:c", 3),
                    item("o:d", 4), item("o:e", 5)};
    merged.next_cursor = encode_cursor(req, {index_value::of(5.0L), "o:e"});
  }

  /// Both owners' confirmations of all their items, values of `bytes`.
  std::vector<query_page> all_confirmed(size_t bytes) const {
    std::vector<query_page> out(2);
    for (size_t i = 0; i < merged.items.size(); ++i) {
      auto copy = merged.items[i];
      copy.value = std::string(bytes, 'v');
      out[owner_of[i]].items.push_back(std::move(copy));
    }
    return out;
  }
};

} // namespace

TEST_CASE("a merged page stops where the values reach the reply budget, and "
          "resumes there") {
  query_request req;
  req.order_by = "deadline";
  req.limit = 10;
  std::vector<query_page> pages(2);
  pages[0].items = {item("o:a", 1, 600), item("o:c", 3, 600)};
  pages[1].items = {item("o:b", 2, 600), item("o:d", 4, 600)};
  auto merged = merge_query_pages(pages, req, 1000);
  REQUIRE(merged.items.size() == 1); // the first always fits
  CHECK(merged.items[0].key == "o:a");
  REQUIRE_FALSE(merged.next_cursor.empty());
  req.cursor = merged.next_cursor;
  auto at = decode_cursor(req);
  REQUIRE(at);
  REQUIRE(*at);
  CHECK((*at)->key == "o:a");
  // An owner with more stops the merge at its cursor.
  std::vector<query_page> more(2);
  more[0].items = {item("o:a", 1, 1), item("o:c", 3, 1)};
  more[0].next_cursor = encode_cursor(req, {index_value::of(3.0L), "o:c"});
  more[1].items = {item("o:b", 2, 1), item("o:d", 4, 1), item("o:e", 5, 1)};
  req.cursor.clear();
  merged = merge_query_pages(more, req);
  REQUIRE(merged.items.size() == 3);
  CHECK(merged.items[2].key == "o:c");
  req.cursor = merged.next_cursor;
  at = decode_cursor(req);
  REQUIRE(at);
  REQUIRE(*at);
  CHECK((*at)->key == "o:c");
}

TEST_CASE("a key two owners both return (a handoff) is kept once, and the "
          "page stops before any key it has not put in order") {
  // o:a is on both nodes while it moves; limit 2. Sorting only the first
  // two of [a c a b] and dropping the second a would pull c (unsorted)
  // onto the page ahead of b, and the cursor after c would skip b for good.
  for (bool descending : {false, true}) {
    auto req = by_deadline();
    req.limit = 2;
    req.descending = descending;
    std::vector<query_page> pages(2);
    long double a = descending ? 3 : 1, b = 2, c = descending ? 1 : 3;
    pages[0].items = {item("o:a", a), item("o:c", c)};
    pages[1].items = {item("o:a", a), item("o:b", b)};
    auto page = merge_query_pages(pages, req);
    INFO("descending " << descending);
    auto keys = keys_of(page);
    std::vector<std::string> order{"o:a", "o:b", "o:c"};
    REQUIRE_FALSE(keys.empty());
    REQUIRE(keys.size() <= 2);
    CHECK(std::equal(keys.begin(), keys.end(), order.begin()));
    REQUIRE_FALSE(page.next_cursor.empty());
    CHECK(cursor_key(req, page) == keys.back());
  }
}

TEST_CASE("confirmed items take their places in the merged order, with their "
          "values, and the merged cursor stands") {
  merged_page m;
  auto confirmed = m.all_confirmed(3);
  auto page = assemble_confirmed(m.merged, m.owner_of, confirmed, m.req);
  CHECK(keys_of(page)
        == std::vector<std::string>{"o:a", "o:b", "o:c", "o:d", "o:e"});
  for (auto& i : page.items)
    CHECK(i.value == "vvv");
  CHECK(page.next_cursor == m.merged.next_cursor);
}

TEST_CASE("an item its owner left out is skipped, and the page goes on past "
          "it") {
  merged_page m;
  std::vector<query_page> confirmed(2);
  confirmed[0].items = {item("o:a", 1), item("o:e", 5)}; // o:c left out
  confirmed[1].items = {item("o:d", 4)};                 // o:b left out
  auto page = assemble_confirmed(m.merged, m.owner_of, confirmed, m.req);
  CHECK(keys_of(page) == std::vector<std::string>{"o:a", "o:d", "o:e"});
  CHECK(page.next_cursor == m.merged.next_cursor);
}

TEST_CASE("an owner's cut ends the page before its first item past the cut, "
          "the cursor after the last item kept") {
  merged_page m;
  std::vector<query_page> confirmed(2);
  confirmed[0].items = {item("o:a", 1, 10)};
  confirmed[0].next_cursor = encode_cursor(m.req, {index_value::of(1.0L), "o:a"});
  confirmed[1].items = {item("o:b", 2, 10), item("o:d", 4, 10)};
  auto page = assemble_confirmed(m.merged, m.owner_of, confirmed, m.req);
  // o:c is owner 0's, past its cut: o:d, though confirmed, waits for the
  // next page, which resumes after o:b.
  CHECK(keys_of(page) == std::vector<std::string>{"o:a", "o:b"});
  CHECK(cursor_key(m.req, page) == "o:b");
}

TEST_CASE("the values of all owners together stop at the reply budget, the "
          "first always fitting") {
  merged_page m;
  auto confirmed = m.all_confirmed(600);
  auto again = confirmed; // the items move into the page
  auto page = assemble_confirmed(m.merged, m.owner_of, confirmed, m.req, 1500);
  CHECK(keys_of(page) == std::vector<std::string>{"o:a", "o:b"});
  CHECK(cursor_key(m.req, page) == "o:b");
  auto tiny = assemble_confirmed(m.merged, m.owner_of, again, m.req, 10);
  CHECK(keys_of(tiny) == std::vector<std::string>{"o:a"});
  CHECK(cursor_key(m.req, tiny) == "o:a");
}

TEST_CASE("the last page's empty cursor stays empty when nothing is cut") {
  merged_page m;
  m.merged.next_cursor.clear();
  std::vector<query_page> confirmed(2);
  confirmed[0].items = {item("o:a", 1), item("o:c", 3), item("o:e", 5)};
  confirmed[1].items = {item("o:b", 2)}; // o:d left out
  auto page = assemble_confirmed(m.merged, m.owner_of, confirmed, m.req);
  CHECK(keys_of(page) == std::vector<std::string>{"o:a", "o:b", "o:c", "o:e"});
  CHECK(page.next_cursor.empty());
}
