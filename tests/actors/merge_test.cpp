// merge_pages and merge_ids: plain functions that turn the owners' answers
// of a fan-out into the one answer the caller gets.

#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "actors/merge.hpp"

using namespace solver_state;

namespace {

using keys = std::vector<std::string>;

/// What an owner holding `held` (sorted) answers to list(after, limit).
key_page page_of(const keys& held, const std::string& after, uint32_t limit) {
  key_page out;
  auto it = std::upper_bound(held.begin(), held.end(), after);
  for (; it != held.end(); ++it) {
    if (limit != 0 && out.keys.size() == limit) {
      out.more = true;
      break;
    }
    out.keys.push_back(*it);
  }
  return out;
}

} // namespace

TEST_CASE("merge_pages sorts the parts into one page") {
  std::vector<key_page> pages{{{"b", "e"}, false}, {{"a", "d"}, false},
                              {{}, false}, {{"c"}, false}};
  auto page = merge_pages(pages, 0);
  CHECK(page.keys == keys{"a", "b", "c", "d", "e"});
  CHECK_FALSE(page.more);
}

TEST_CASE("merge_pages cuts at the limit and says more") {
  std::vector<key_page> pages{{{"b", "e"}, false}, {{"a", "d"}, false}};
  SECTION("more keys than the limit") {
    auto page = merge_pages(pages, 3);
    CHECK(page.keys == keys{"a", "b", "d"});
    CHECK(page.more);
  }
  SECTION("exactly the limit, and no part has more") {
    auto page = merge_pages(pages, 4);
    CHECK(page.keys.size() == 4);
    CHECK_FALSE(page.more);
  }
  SECTION("a part with more makes the page say more") {
    pages[0].more = true;
    auto page = merge_pages(pages, 10);
    CHECK(page.keys == keys{"a", "b", "d", "e"});
    CHECK(page.more);
  }
}

TEST_CASE("merge_pages: paging with the cursor over several owners returns "
          "every key once, in order") {
  std::vector<keys> owners{{"k01", "k04", "k05", "k06", "k09"},
                           {"k02", "k03", "k10", "k11"},
                           {"k00", "k07", "k08", "k12", "k13", "k14"}};
  keys all;
  for (auto& o : owners)
    all.insert(all.end(), o.begin(), o.end());
  std::sort(all.begin(), all.end());
  for (uint32_t limit : {1u, 2u, 3u, 4u, 5u, 7u, 15u, 100u}) {
    INFO("limit " << limit);
    keys seen;
    std::string after;
    for (int round = 0; round < 100; ++round) {
      std::vector<key_page> pages;
      for (auto& o : owners)
        pages.push_back(page_of(o, after, limit));
      auto page = merge_pages(pages, limit);
      CHECK(page.keys.size() <= limit);
      seen.insert(seen.end(), page.keys.begin(), page.keys.end());
      if (!page.more)
        break;
      REQUIRE_FALSE(page.keys.empty());
      after = page.keys.back();
    }
    CHECK(seen == all);
  }
}

TEST_CASE("merge_ids concatenates and sorts") {
  std::vector<id_list> lists{{{"o3", "o9"}}, {}, {{"o1", "o5"}}};
  auto merged = merge_ids(lists, 0);
  CHECK(merged.ids == keys{"o1", "o3", "o5", "o9"});
  CHECK_FALSE(merged.more);
  std::vector<id_list> none;
  CHECK(merge_ids(none, 0).ids.empty());
}

TEST_CASE("merge_ids cuts at the limit and says more") {
  std::vector<id_list> lists{{{"o3", "o9"}, false}, {{"o1", "o5"}, true}};
  auto cut = merge_ids(lists, 3);
  CHECK(cut.ids == keys{"o1", "o3", "o5"});
  CHECK(cut.more);
  std::vector<id_list> again{{{"o3"}, false}, {{"o1"}, true}};
  CHECK(merge_ids(again, 10).more); // an owner had more
}

TEST_CASE("a list asking for everything gets max_list_page and more") {
  std::vector<key_page> pages(1);
  for (uint32_t i = 0; i < max_list_page + 5; ++i)
    pages[0].keys.push_back("k" + std::to_string(100000 + i));
  auto page = merge_pages(pages, 0);
  CHECK(page.keys.size() == max_list_page);
  CHECK(page.more);
  CHECK(page_limit(0) == max_list_page);
  CHECK(page_limit(max_list_page + 1) == max_list_page);
  CHECK(page_limit(7) == 7);
}
