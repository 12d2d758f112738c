#pragma once

// The checks every backend's queries must pass (check_queries), run on a
// running_store of that backend started with query_config(): each
// operator, ANDed conditions, both directions, paging (also while writes
// go on), and index upkeep through overwrite, delete, delete by prefix,
// transaction, TTL expiry, a non-JSON value and a field that changes type.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "messages/errors.hpp"
#include "messages/query.hpp"
#include "tests/support/running_store.hpp"

namespace solver_state::testing {

/// A store of `type` with three indexes over "q:": status, deadline and
/// the nested route/chain.
inline state_config query_config(const std::string& type, size_t shards) {
  state_config sc;
  sc.type = type;
  sc.shards = shards;
  sc.max_items = 0;
  sc.indexes = {{"status", "q:", "/status"},
                {"deadline", "q:", "/deadline"},
                {"chain", "q:", "/route/chain"}};
  return sc;
}

inline query_condition where(std::string index, query_op op,
                             std::vector<index_value> values = {}) {
  return {std::move(index), static_cast<uint8_t>(op), std::move(values)};
}

inline index_value num(long double n) { return index_value::of(n); }
inline index_value str(std::string s) { return index_value::of(std::move(s)); }

/// Asks until the indexes are built (backend_unavailable meanwhile).
inline caf::expected<query_page> ask_query(running_store& store,
                                           const query_request& req) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (true) {
    auto page = store.ask<query_page>(query_atom_v, req);
    if (page || code_of(page.error()) != state_errc::backend_unavailable
        || std::chrono::steady_clock::now() > deadline)
      return page;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// The keys of every page of `req`, following the cursors; each page at
/// most `limit` keys.
inline std::vector<std::string> all_pages(running_store& store,
                                          query_request req) {
  std::vector<std::string> out;
  for (int pages = 0; pages < 10'000; ++pages) {
    auto page = ask_query(store, req);
    INFO((page ? std::string{} : message_of(page.error())));
    REQUIRE(page);
    CHECK(page->items.size() <= (req.limit == 0 ? max_query_page : req.limit));
    for (auto& item : page->items)
      out.push_back(item.key);
    if (page->next_cursor.empty())
      return out;
    req.cursor = page->next_cursor;
  }
  FAIL("a query that never ends");
  return out;
}

/// The keys of one query (all pages).
inline std::vector<std::string> query_keys(running_store& store,
                                           std::vector<query_condition> cond,
                                           std::string order_by = {},
                                           bool descending = false,
                                           uint32_t limit = 0) {
  query_request req;
  req.prefix = "q:";
  req.where = std::move(cond);
  req.order_by = std::move(order_by);
  req.descending = descending;
  req.limit = limit;
  return all_pages(store, req);
}

/// The keys under "q:" whose status is `status` (all pages).
inline std::vector<std::string> keys_with_status(running_store& store,
                                                 const std::string& status) {
  return query_keys(store, {where("status", query_op::eq, {str(status)})});
}

/// Writes {"status":"<status>"} under each of `keys` through a store of its
/// own on `type` (a shared engine's URL), stopped before this returns.
inline void put_statuses(const std::string& type, size_t shards,
                         const std::vector<std::string>& keys,
                         const std::string& status) {
  running_store writer{query_config(type, shards)};
  for (auto& key : keys)
    REQUIRE(writer.ask<write_result>(
      put_atom_v,
      set_request{key, R"({"status":")" + status + R"("})", 0, {}}));
}

inline std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

struct query_check_options {
  /// The backend runs transactions (all but DynamoDB here).
  bool transactions = true;
  /// A transaction may span shards (memory, Redis, PostgreSQL): its keys
  /// on other shards must reach their owners' indexes too.
  bool spanning_transactions = false;
};

inline void check_queries(running_store& store,
                          query_check_options opts = {}) {
  using strings = std::vector<std::string>;
  auto put = [&](const std::string& key, const std::string& value,
                 int64_t ttl_ms = 0) {
    auto r = store.ask<write_result>(put_atom_v,
                                     set_request{key, value, ttl_ms, {}});
    INFO(key << ": " << (r ? std::string{} : message_of(r.error())));
    REQUIRE(r);
    return r->version;
  };
  auto erase = [&](const std::string& key) {
    REQUIRE(store.ask<bool>(delete_atom_v, delete_request{key, {}}));
  };
  // A shared backend keeps what an earlier run of this test wrote.
  for (auto* prefix : {"q:", "x:"})
    REQUIRE(store.ask<delete_prefix_result>(
      delete_atom_v, delete_prefix_request{prefix, 0}));
  auto v1 = put("q:1", R"({"status":"pending","deadline":300,)"
                       R"("route":{"chain":"eth"}})");
  put("q:2", R"({"status":"filled","deadline":100})");
  put("q:3", R"({"status":"pending","deadline":200})");
  put("q:4", R"({"status":"pending","deadline":"soon"})");
  put("q:5", "not json at all");
  put("q:6", R"({"other":1})");
  put("q:8", R"([{"status":"pending"}])"); // not an object
  put("q:9", R"({"status":"pending",)");   // broken JSON
  put("x:1", R"({"status":"pending","deadline":1})"); // outside the prefix

  SECTION("each operator") {
    using op = query_op;
    CHECK(query_keys(store, {where("status", op::eq, {str("pending")})})
          == strings{"q:1", "q:3", "q:4"});
    CHECK(query_keys(store, {where("status", op::ne, {str("pending")})})
          == strings{"q:2"});
    CHECK(query_keys(store, {where("status", op::in,
                                   {str("filled"), str("pending")})})
          == strings{"q:1", "q:2", "q:3", "q:4"});
    CHECK(query_keys(store, {where("status", op::nin, {str("pending")})})
          == strings{"q:2"});
    CHECK(query_keys(store, {where("chain", op::exists)})
          == strings{"q:1"});
    // Ranges compare numbers with numbers, strings with strings.
    CHECK(query_keys(store, {where("deadline", op::lt, {num(250)})})
          == strings{"q:2", "q:3"});
    CHECK(query_keys(store, {where("deadline", op::lte, {num(200)})})
          == strings{"q:2", "q:3"});
    CHECK(query_keys(store, {where("deadline", op::gt, {num(200)})})
          == strings{"q:1"});
    CHECK(query_keys(store, {where("deadline", op::gte, {num(200)})})
          == strings{"q:1", "q:3"});
    CHECK(query_keys(store, {where("deadline", op::gt, {str("a")})})
          == strings{"q:4"});
    CHECK(query_keys(store, {where("deadline", op::eq, {num(300.0)})})
          == strings{"q:1"});
    // A number equals the same number written otherwise.
    CHECK(query_keys(store, {where("deadline", op::eq, {num(3e2)})})
          == strings{"q:1"});
    CHECK(query_keys(store, {where("status", op::eq, {str("none")})})
          .empty());
  }

  SECTION("conditions are ANDed") {
    CHECK(query_keys(store, {where("status", query_op::eq, {str("pending")}),
                             where("deadline", query_op::lt, {num(250)})})
          == strings{"q:3"});
    CHECK(query_keys(store, {where("status", query_op::eq, {str("pending")}),
                             where("chain", query_op::eq, {str("eth")})})
          == strings{"q:1"});
    CHECK(query_keys(store, {where("status", query_op::eq, {str("filled")}),
                             where("chain", query_op::exists)})
          .empty());
  }

  SECTION("order by an index, both directions, numbers before strings; and "
          "key order both ways") {
    auto all = where("status", query_op::in, {str("pending"), str("filled")});
    CHECK(query_keys(store, {all}, "deadline")
          == strings{"q:2", "q:3", "q:1", "q:4"});
    CHECK(query_keys(store, {all}, "deadline", true)
          == strings{"q:4", "q:1", "q:3", "q:2"});
    // order_by alone: every key with that field.
    CHECK(query_keys(store, {}, "deadline")
          == strings{"q:2", "q:3", "q:1", "q:4"});
    CHECK(query_keys(store, {all}, "status")
          == strings{"q:2", "q:1", "q:3", "q:4"});
    CHECK(query_keys(store, {all}, {}, true)
          == strings{"q:4", "q:3", "q:2", "q:1"});
    // Page by page (one key a page) gives the same, in every plan.
    CHECK(query_keys(store, {all}, "deadline", false, 1)
          == strings{"q:2", "q:3", "q:1", "q:4"});
    CHECK(query_keys(store, {all}, "deadline", true, 1)
          == strings{"q:4", "q:1", "q:3", "q:2"});
    CHECK(query_keys(store, {all}, {}, false, 1)
          == strings{"q:1", "q:2", "q:3", "q:4"});
    CHECK(query_keys(store, {all}, {}, true, 1)
          == strings{"q:4", "q:3", "q:2", "q:1"});
    CHECK(query_keys(store, {}, "deadline", true, 1)
          == strings{"q:4", "q:1", "q:3", "q:2"});
    CHECK(query_keys(store, {where("deadline", query_op::exists)}, {}, false, 1)
          == strings{"q:1", "q:2", "q:3", "q:4"});
    CHECK(query_keys(store, {all}, "status", true, 1)
          == strings{"q:4", "q:3", "q:1", "q:2"});
  }

  SECTION("values and versions come with the keys when asked for") {
    query_request req;
    req.prefix = "q:";
    req.where = {where("chain", query_op::eq, {str("eth")})};
    req.with_values = true;
    auto page = ask_query(store, req);
    REQUIRE(page);
    REQUIRE(page->items.size() == 1);
    CHECK(page->items[0].key == "q:1");
    CHECK(page->items[0].version == v1);
    CHECK(page->items[0].value
          == R"({"status":"pending","deadline":300,"route":{"chain":"eth"}})");
    req.with_values = false;
    page = ask_query(store, req);
    REQUIRE(page);
    REQUIRE(page->items.size() == 1);
    CHECK(page->items[0].value.empty());
    CHECK(page->items[0].version == v1);
  }

  SECTION("a narrower prefix narrows the answer") {
    put("q:a:1", R"({"status":"pending"})");
    put("q:b:1", R"({"status":"pending"})");
    query_request req;
    req.prefix = "q:a:";
    req.where = {where("status", query_op::eq, {str("pending")})};
    CHECK(all_pages(store, req) == strings{"q:a:1"});
  }

  SECTION("the indexes follow overwrites, type changes, non-JSON values and "
          "deletes") {
    put("q:1", R"({"status":"filled","deadline":300})");
    put("q:2", R"({"status":"filled","deadline":"later"})");
    put("q:4", "no longer JSON");
    erase("q:3");
    put("q:5", R"({"status":"pending","deadline":5})"); // now JSON
    CHECK(query_keys(store, {where("status", query_op::eq, {str("pending")})})
          == strings{"q:5"});
    CHECK(query_keys(store, {where("deadline", query_op::lt, {num(250)})})
          == strings{"q:5"});
    CHECK(query_keys(store, {where("deadline", query_op::gt, {str("a")})})
          == strings{"q:2"});
    CHECK(query_keys(store, {where("chain", query_op::exists)}).empty());
    CHECK(query_keys(store, {}, "deadline") == strings{"q:5", "q:1", "q:2"});
  }

  SECTION("deletes and a delete by prefix leave the indexes") {
    // Keys that sort first: an index that kept them would find them first
    // and (the backend confirming every page) answer a page without items.
    put("q:0dp:1", R"({"status":"pending"})");
    put("q:0dp:2", R"({"status":"pending"})");
    put("q:0del", R"({"status":"pending"})");
    erase("q:0del");
    auto removed = store.ask<delete_prefix_result>(
      delete_atom_v, delete_prefix_request{"q:0dp:", 0});
    REQUIRE(removed);
    CHECK(removed->deleted == 2);
    // First (a query confirms its page with the backend and drops what is
    // gone, so a later one would not tell).
    query_request first;
    first.prefix = "q:";
    first.where = {where("status", query_op::eq, {str("pending")})};
    first.limit = 1;
    auto page = ask_query(store, first);
    REQUIRE(page);
    REQUIRE(page->items.size() == 1);
    CHECK(page->items[0].key == "q:1");
    CHECK(query_keys(store, {where("status", query_op::eq, {str("pending")})})
          == strings{"q:1", "q:3", "q:4"});
  }

  SECTION("a transaction's writes and deletes reach the indexes, a refused "
          "one changes nothing") {
    if (!opts.transactions)
      return;
    put("q:{t}b", R"({"status":"pending"})");
    transaction_request txn;
    txn.ops.push_back(txn_op::put("q:{t}a", R"({"status":"pending"})"));
    txn.ops.push_back(txn_op::remove("q:{t}b"));
    REQUIRE(store.ask<transaction_reply>(transact_atom_v, txn));
    transaction_request refused;
    refused.ops.push_back(
      txn_op::put("q:{t}c", R"({"status":"pending"})"));
    refused.ops.push_back(
      txn_op::put("q:{t}a", R"({"status":"filled"})", condition::absent()));
    REQUIRE_FALSE(store.ask<transaction_reply>(transact_atom_v, refused));
    CHECK(query_keys(store, {where("status", query_op::eq, {str("pending")})})
          == strings{"q:1", "q:3", "q:4", "q:{t}a"});
    if (!opts.spanning_transactions)
      return;
    // Keys of several shards in one transaction. Each was written first
    // with a short TTL, through its own shard; the transaction writes it
    // with none, so it outlives that TTL (on a shared engine the first
    // key's shard applies all of it, and each key's owner must stop
    // expecting the expiry it saw written).
    transaction_request spanning;
    for (int i = 0; i < 12; ++i) {
      auto key = "q:s" + std::to_string(i);
      put(key, R"({"status":"soon-gone"})", 700);
      spanning.ops.push_back(txn_op::put(
        key, R"({"status":"spanning","deadline":)" + std::to_string(i) + "}"));
    }
    REQUIRE(store.ask<transaction_reply>(transact_atom_v, spanning));
    auto spanning_keys = [&] {
      return query_keys(store,
                        {where("status", query_op::eq, {str("spanning")})},
                        "deadline");
    };
    auto found = spanning_keys();
    REQUIRE(found.size() == 12);
    for (int i = 0; i < 12; ++i)
      CHECK(found[i] == "q:s" + std::to_string(i));
    // Past the old TTL, two sweeps and writes on every shard later.
    std::this_thread::sleep_for(std::chrono::milliseconds{2'500});
    for (int i = 0; i < 12; ++i)
      put("q:z" + std::to_string(i), R"({"other":1})");
    CHECK(spanning_keys() == found);
    for (auto& key : found)
      CHECK(store.ask<entry>(get_atom_v, key));
  }

  SECTION("a key leaves the indexes when its TTL ends") {
    put("q:ttl", R"({"status":"short-lived"})", 300);
    CHECK(query_keys(store,
                     {where("status", query_op::eq, {str("short-lived")})})
          == strings{"q:ttl"});
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    strings left{"q:ttl"};
    while (!left.empty() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
      left = query_keys(store,
                        {where("status", query_op::eq, {str("short-lived")})});
    }
    CHECK(left.empty());
  }

  SECTION("paging is exact while writes go on: every key that matches "
          "throughout comes exactly once") {
    // 60 keys pending with deadlines 0..59; pages of 7 by deadline; between
    // pages: new keys, deletes and updates of keys not yet returned.
    for (int i = 0; i < 60; ++i)
      put("q:p:" + std::to_string(100 + i),
          R"({"status":"paging","deadline":)" + std::to_string(i) + "}");
    std::set<std::string> untouched;
    for (int i = 0; i < 60; ++i)
      untouched.insert("q:p:" + std::to_string(100 + i));
    query_request req;
    req.prefix = "q:p:";
    req.where = {where("status", query_op::eq, {str("paging")})};
    req.order_by = "deadline";
    req.limit = 7;
    std::vector<std::string> seen;
    int round = 0;
    while (true) {
      auto page = ask_query(store, req);
      REQUIRE(page);
      for (auto& item : page->items)
        seen.push_back(item.key);
      if (page->next_cursor.empty())
        break;
      req.cursor = page->next_cursor;
      ++round;
      // A new key, before and after the cursor (deadlines -1 and 100+).
      put("q:p:n" + std::to_string(round),
          R"({"status":"paging","deadline":)"
            + std::to_string(round % 2 ? -1 : 100 + round) + "}");
      // Delete one key not yet seen, and move another within the order.
      auto victim = "q:p:" + std::to_string(100 + 59 - round);
      if (untouched.erase(victim))
        erase(victim);
      auto moved = "q:p:" + std::to_string(100 + 30 + round);
      if (untouched.erase(moved))
        put(moved, R"({"status":"paging","deadline":)"
                     + std::to_string(30 + round) + ".5}");
    }
    std::map<std::string, int> times;
    for (auto& key : seen)
      ++times[key];
    for (auto& [key, n] : times) {
      INFO(key);
      CHECK(n == 1);
    }
    for (auto& key : untouched) {
      INFO(key << " matched throughout");
      CHECK(times.count(key) == 1);
    }
  }

  SECTION("bad queries are refused with a reason") {
    auto refused = [&](query_request req, const std::string& words) {
      auto page = store.ask<query_page>(query_atom_v, req);
      REQUIRE_FALSE(page);
      CHECK(code_of(page.error()) == state_errc::bad_request);
      CHECK_THAT(message_of(page.error()), Catch::Contains(words));
    };
    query_request req;
    req.prefix = "q:";
    req.where = {where("colour", query_op::eq, {str("red")})};
    refused(req, "no index named 'colour'");
    req.where = {where("status", query_op::eq, {str("pending")})};
    req.prefix = "x:";
    refused(req, "covers keys under 'q:'");
    req.prefix = "q:";
    req.order_by = "size";
    refused(req, "no index named 'size'");
    req.order_by.clear();
    req.cursor = "garbage";
    refused(req, "cursor");
    req.cursor.clear();
    req.where.clear();
    refused(req, "needs a condition or an order_by");
    req.where = {where("status", query_op::in, {})};
    refused(req, "takes 1 to");
    req.where = {where("status", query_op::exists, {str("x")})};
    refused(req, "exists takes no value");
    // A cursor of one order does not resume another.
    query_request by_deadline;
    by_deadline.prefix = "q:";
    by_deadline.order_by = "deadline";
    by_deadline.limit = 1;
    auto first = ask_query(store, by_deadline);
    REQUIRE(first);
    REQUIRE_FALSE(first->next_cursor.empty());
    req.where = {where("status", query_op::exists)};
    req.cursor = first->next_cursor;
    refused(req, "another order");
    // Nor a query of other keys: resumed there, it would skip some.
    auto other_keys = by_deadline;
    other_keys.cursor = first->next_cursor;
    other_keys.where = {where("status", query_op::exists)};
    refused(other_keys, "another prefix or other conditions");
    other_keys.where.clear();
    other_keys.prefix = "q:1";
    refused(other_keys, "another prefix or other conditions");
    // The same query written another way keeps its cursor.
    auto same = by_deadline;
    same.where = {where("deadline", query_op::nin, {str("zz"), str("yy")}),
                  where("deadline", query_op::exists)};
    auto page = ask_query(store, same);
    REQUIRE(page);
    REQUIRE_FALSE(page->next_cursor.empty());
    same.where = {where("deadline", query_op::exists),
                  where("deadline", query_op::nin,
                        {str("yy"), str("zz"), str("yy")})};
    same.cursor = page->next_cursor;
    auto next = ask_query(store, same);
    INFO((next ? std::string{} : message_of(next.error())));
    CHECK(next);
  }
}

/// Writes `key` through `via`, REQUIREd to succeed.
inline void put_via(running_store& via, const std::string& key,
                    const std::string& value) {
  auto r = via.ask<write_result>(put_atom_v, set_request{key, value, 0, {}});
  INFO(key << ": " << (r ? std::string{} : message_of(r.error())));
  REQUIRE(r);
}

/// Two service instances on one shared engine (Redis, PostgreSQL): the
/// queries of `reader` see what is written through `writer`, whose writes
/// reach `reader`'s indexes only through the engine's change feed: new
/// keys, and keys `reader` indexed whose fields `writer` changed. Waits up
/// to 10 s for each.
inline void check_queries_follow_other_instances(running_store& reader,
                                                 running_store& writer) {
  using strings = std::vector<std::string>;
  REQUIRE(writer.ask<delete_prefix_result>(delete_atom_v,
                                           delete_prefix_request{"q:", 0}));
  auto put = put_via;
  auto pending_by_deadline = [&] {
    return query_keys(reader, {where("status", query_op::eq, {str("pending")})},
                      "deadline");
  };
  auto eventually = [&](const strings& want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    auto got = pending_by_deadline();
    while (got != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
      got = pending_by_deadline();
    }
    return got;
  };
  // Indexed by the reader itself, as filled.
  put(reader, "q:own", R"({"status":"filled","deadline":5})");
  REQUIRE(eventually({}).empty());
  put(writer, "q:a", R"({"status":"pending","deadline":30})");
  put(writer, "q:b", R"({"status":"filled","deadline":10})");
  put(writer, "q:c", R"({"status":"pending","deadline":20})");
  CHECK(eventually({"q:c", "q:a"}) == strings{"q:c", "q:a"});
  // A key the reader indexed, changed by the other instance.
  put(writer, "q:own", R"({"status":"pending","deadline":5})");
  CHECK(eventually({"q:own", "q:c", "q:a"})
        == strings{"q:own", "q:c", "q:a"});
  // The reader writes it again and it counts at once, in its new place,
  // and still after the feed brings the write back. On Redis its version
  // comes from the reader's block of versions, taken before the writer's:
  // lower than the version it replaces.
  put(reader, "q:own", R"({"status":"pending","deadline":25})");
  CHECK(pending_by_deadline() == strings{"q:c", "q:own", "q:a"});
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  CHECK(pending_by_deadline() == strings{"q:c", "q:own", "q:a"});
  put(writer, "q:c", R"({"status":"filled","deadline":20})");
  REQUIRE(writer.ask<bool>(delete_atom_v, delete_request{"q:a", {}}));
  CHECK(eventually({"q:own"}) == strings{"q:own"});
  // The reader's own writes still count at once.
  put(reader, "q:d", R"({"status":"pending","deadline":1})");
  CHECK(pending_by_deadline() == strings{"q:d", "q:own"});
}

/// `reader` was started with watches=local on the engine that `writer`
/// writes too: it reads no change feed, so its queries see its own writes
/// and not the writer's, which a feed brings within milliseconds (above).
/// Its reads still go to the engine.
inline void check_local_instance_reads_no_feed(running_store& reader,
                                               running_store& writer) {
  REQUIRE(reader.ask<delete_prefix_result>(delete_atom_v,
                                           delete_prefix_request{"q:", 0}));
  put_via(reader, "q:own", R"({"status":"pending","deadline":5})");
  put_via(writer, "q:other", R"({"status":"pending","deadline":1})");
  std::this_thread::sleep_for(std::chrono::seconds{1});
  CHECK(query_keys(reader, {where("status", query_op::eq, {str("pending")})},
                   "deadline")
        == std::vector<std::string>{"q:own"});
  auto other = reader.ask<entry>(get_atom_v, std::string{"q:other"});
  REQUIRE(other);
  CHECK(other->value == R"({"status":"pending","deadline":1})");
}

/// The check below, once: with `reader` and `writer` already running.
inline void check_feed_read_before_own_write(running_store& reader,
                                             running_store& writer) {
  put_via(writer, "q:race", R"({"status":"pending"})");
  auto theirs = writer.ask<entry>(get_atom_v, std::string{"q:race"});
  REQUIRE(theirs);
  REQUIRE(reader.handles.shards.size() == 1);
  auto shard = reader.handles.shards.front();
  caf::scoped_actor self{*reader.sys};
  batch_request many;
  for (int i = 0; i < 2000; ++i)
    many.keys.push_back("q:absent:" + std::to_string(i));
  self->send(shard, batch_get_atom_v, many); // its answer is not awaited
  change_batch feed;
  feed.events.push_back(change_event{
    0, static_cast<uint8_t>(change_cause::put), "q:race", theirs->version,
    {}, 0});
  self->send(shard, reindex_atom_v, feed);
  bool written = false;
  self
    ->request(shard, std::chrono::seconds{10}, put_atom_v,
              set_request{"q:race", R"({"status":"filled"})", 0, {}})
    .receive([&](const write_result&) { written = true; },
             [](const caf::error& err) { FAIL(message_of(err)); });
  REQUIRE(written);
  auto has_race = [&](const std::string& status) {
    auto keys =
      query_keys(reader, {where("status", query_op::eq, {str(status)})});
    return std::count(keys.begin(), keys.end(), "q:race");
  };
  CHECK(has_race("filled") == 1);
  CHECK(has_race("pending") == 0);
}

/// A change of another instance that the feed brings while a write of the
/// same key by this shard waits in its queue: the read that follows the
/// change rides the pipeline ahead of the write, and the indexes must end
/// with what the write stored, not with what the read found before it.
/// The reader, an instance of the engine at `url` that reads no feed
/// itself (watches=local, one shard), is handed the feed's message by the
/// check, then the write, both behind a batch read of many keys, so that
/// the two share the shard's next batch. Three times over.
inline void check_feed_read_before_own_write(const std::string& url) {
  auto options = url.find('?') == std::string::npos ? "?" : "&";
  running_store reader{query_config(url + options + "watches=local", 1)};
  running_store writer{query_config(url, 2)};
  for (int run = 0; run < 3; ++run) {
    INFO("run " << run);
    check_feed_read_before_own_write(reader, writer);
  }
}

/// Whether the shards of `store` report `n` keys in their indexes
/// (state_indexed_keys) within 5 s: each is asked for a report, again and
/// again, and the metrics actor's rendering read.
inline bool reports_indexed_keys(running_store& store, uint64_t n) {
  caf::scoped_actor self{*store.sys};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    for (auto& shard : store.handles.shards)
      self->send(shard, tick_atom_v);
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
    self->request(store.handles.metrics, std::chrono::seconds{5}, render_atom_v)
      .receive([&](const std::string& text) { last = text; },
               [](const caf::error& err) { FAIL(message_of(err)); });
    auto at = last.find("\nstate_indexed_keys{");
    if (at == std::string::npos)
      continue;
    auto value = last.find("} ", at);
    if (value != std::string::npos
        && std::strtoull(last.c_str() + value + 2, nullptr, 10) == n)
      return true;
  }
  UNSCOPED_INFO("state_indexed_keys never read " << n << ":\n" << last);
  return false;
}

/// A key this instance indexed, then another instance removed: the feed's
/// removal is read back, the read finds nothing, and the key must leave
/// the indexes. A query would not tell (it confirms what the indexes find
/// with the backend, so a stale entry is dropped from its page), so the
/// shard's count of indexed keys does. The reader reads no feed itself
/// (watches=local, one shard) and is handed the feed's message by the
/// check, as above.
inline void check_feed_read_of_removed_key(const std::string& url) {
  auto options = url.find('?') == std::string::npos ? "?" : "&";
  running_store reader{query_config(url + options + "watches=local", 1)};
  running_store writer{query_config(url, 2)};
  put_via(reader, "q:gone", R"({"status":"pending"})");
  REQUIRE(reports_indexed_keys(reader, 1));
  REQUIRE(writer.ask<bool>(delete_atom_v, delete_request{"q:gone", {}}));
  change_batch feed;
  feed.events.push_back(change_event{
    0, static_cast<uint8_t>(change_cause::del), "q:gone", 0, {}, 0});
  caf::scoped_actor self{*reader.sys};
  self->send(reader.handles.shards.front(), reindex_atom_v, feed);
  CHECK(reports_indexed_keys(reader, 0));
  CHECK(query_keys(reader, {where("status", query_op::eq, {str("pending")})})
          .empty());
}

} // namespace solver_state::testing
