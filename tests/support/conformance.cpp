// The backend conformance suite: every protocol check, run against a
// backend's stores directly and through the real store actors.

#include "tests/support/conformance.hpp"

#include "tests/support/conformance_transactions.hpp"
#include "tests/support/files_containing.hpp"
#include "tests/support/running_store.hpp"

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include "actors/store.hpp"
#include "backends/atomic_batch_read.hpp"
#include "backends/codec/coded_store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/keys.hpp"
#include "messages/protocol.hpp"

namespace solver_state::testing {

unix_ms wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::unique_ptr<state_store> open_one(const conformance_target& t) {
  auto cfg = t.config;
  cfg.shards = 1;
  auto plugin = compiled_plugins().find(cfg.type);
  REQUIRE(plugin != nullptr);
  auto stores = plugin->create_stores(cfg);
  INFO((stores ? std::string{} : message_of(stores.error())));
  REQUIRE(stores);
  REQUIRE(stores->size() == 1);
  // As start_store does: values pass through the codec of the config.
  auto err = wrap_in_codecs(*stores, cfg);
  INFO(message_of(err));
  REQUIRE_FALSE(err);
  return std::move(stores->front());
}

namespace {

set_request put(std::string key, std::string value,
                condition cond = condition::always()) {
  return set_request{std::move(key), std::move(value), 0, cond};
}

version_t must_set(state_store& s, std::string key, std::string value,
                   unix_ms now, unix_ms expires_at = 0) {
  auto v = s.set(put(std::move(key), std::move(value)), expires_at, now);
  INFO((v ? std::string{} : message_of(v.error())));
  REQUIRE(v);
  return v->version;
}

state_errc failure(const caf::error& err) {
  return code_of(err);
}

void check_basic_operations(state_store& s, unix_ms now) {
  SECTION("get of an absent key is not_found") {
    auto e = s.get("order:t:absent", now);
    REQUIRE_FALSE(e);
    CHECK(failure(e.error()) == state_errc::not_found);
  }
  SECTION("set then get returns the bytes and the version") {
    auto v = must_set(s, "order:t:1", "hello", now);
    CHECK(v != 0);
    auto e = s.get("order:t:1", now);
    REQUIRE(e);
    CHECK(e->value == "hello");
    CHECK(e->version == v);
  }
  SECTION("every write changes the version, even with the same value") {
    auto v1 = must_set(s, "state:c:k", "same", now);
    auto v2 = must_set(s, "state:c:k", "same", now);
    CHECK(v1 != v2);
    must_set(s, "state:c:k", "other", now);
    s.erase(delete_request{"state:c:k", condition::always()}, now);
    auto v4 = must_set(s, "state:c:k", "same", now);
    CHECK(v4 != v1);
    CHECK(v4 != v2);
  }
  SECTION("a set says whether it created the key (HTTP's 201 or 204)") {
    auto created = [&](condition cond, unix_ms at, unix_ms expires = 0) {
      auto w = s.set(put("state:new:k", "v", cond), expires, at);
      INFO((w ? std::string{} : message_of(w.error())));
      REQUIRE(w);
      return w->created;
    };
    CHECK(created(condition::always(), now));
    CHECK_FALSE(created(condition::always(), now));
    auto v = s.get("state:new:k", now);
    REQUIRE(v);
    CHECK_FALSE(created(condition::matches(v->version), now));
    s.erase(delete_request{"state:new:k", condition::always()}, now);
    CHECK(created(condition::absent(), now));
    s.erase(delete_request{"state:new:k", condition::always()}, now);
    CHECK(created(condition::always(), now, now + 10));
    // Expired at now + 20 (not swept yet): a write then creates it anew,
    // with and without a condition.
    CHECK(created(condition::always(), now + 20, now + 30));
    CHECK(created(condition::absent(), now + 40));
  }
  SECTION("binary values with NUL bytes and empty values round-trip") {
    std::string bin{"\0\x01\xff\0tail", 8};
    must_set(s, "fill:o:bin", bin, now);
    must_set(s, "fill:o:empty", "", now);
    CHECK(s.get("fill:o:bin", now)->value == bin);
    auto empty = s.get("fill:o:empty", now);
    REQUIRE(empty);
    CHECK(empty->value.empty());
  }
  SECTION("a large value round-trips") {
    std::string big(512 * 1024, 'x');
    for (size_t i = 0; i < big.size(); i += 7)
      big[i] = static_cast<char>(i);
    must_set(s, "state:big:v", big, now);
    CHECK(s.get("state:big:v", now)->value == big);
  }
  SECTION("delete removes; deleting an absent key succeeds with false") {
    must_set(s, "order:t:d", "x", now);
    auto removed = s.erase(delete_request{"order:t:d", condition::always()},
                           now);
    REQUIRE(removed);
    CHECK(*removed);
    CHECK_FALSE(s.get("order:t:d", now));
    auto again = s.erase(delete_request{"order:t:d", condition::always()},
                         now);
    REQUIRE(again);
    CHECK_FALSE(*again);
  }
}

void check_conditions(state_store& s, unix_ms now) {
  SECTION("if_version writes only over the named version") {
    auto v1 = must_set(s, "order:t:c", "a", now);
    auto stale = s.set(put("order:t:c", "b", condition::matches(v1 + 12345)),
                       0, now);
    REQUIRE_FALSE(stale);
    CHECK(failure(stale.error()) == state_errc::version_mismatch);
    CHECK(s.get("order:t:c", now)->value == "a");
    auto v2 = s.set(put("order:t:c", "b", condition::matches(v1)), 0, now);
    REQUIRE(v2);
    CHECK(s.get("order:t:c", now)->value == "b");
    auto replay = s.set(put("order:t:c", "c", condition::matches(v1)), 0, now);
    REQUIRE_FALSE(replay);
    CHECK(failure(replay.error()) == state_errc::version_mismatch);
  }
  SECTION("if_version on an absent key fails") {
    auto r = s.set(put("order:t:none", "x", condition::matches(1)), 0, now);
    REQUIRE_FALSE(r);
    CHECK(failure(r.error()) == state_errc::version_mismatch);
    CHECK_FALSE(s.get("order:t:none", now));
    // Version 0 is no version, not a name for "absent" (If-Match: "0").
    auto zero = s.set(put("order:t:none", "x", condition::matches(0)), 0, now);
    REQUIRE_FALSE(zero);
    CHECK(failure(zero.error()) == state_errc::version_mismatch);
    CHECK_FALSE(s.get("order:t:none", now));
    auto gone = s.erase(delete_request{"order:t:none", condition::matches(0)},
                        now);
    REQUIRE_FALSE(gone);
    CHECK(failure(gone.error()) == state_errc::version_mismatch);
  }
  SECTION("if_absent creates once") {
    auto first = s.set(put("order:t:once", "1", condition::absent()), 0, now);
    REQUIRE(first);
    auto second = s.set(put("order:t:once", "2", condition::absent()), 0,
                        now);
    REQUIRE_FALSE(second);
    CHECK(failure(second.error()) == state_errc::version_mismatch);
    CHECK(s.get("order:t:once", now)->value == "1");
  }
  SECTION("conditional delete") {
    auto v = must_set(s, "order:t:cd", "x", now);
    auto wrong = s.erase(delete_request{"order:t:cd", condition::matches(v + 1)},
                         now);
    REQUIRE_FALSE(wrong);
    CHECK(failure(wrong.error()) == state_errc::version_mismatch);
    CHECK(s.get("order:t:cd", now));
    auto right = s.erase(delete_request{"order:t:cd", condition::matches(v)},
                         now);
    REQUIRE(right);
    CHECK(*right);
    auto absent = s.erase(delete_request{"order:t:cd", condition::matches(v)},
                          now);
    REQUIRE_FALSE(absent);
    CHECK(failure(absent.error()) == state_errc::version_mismatch);
  }
}

void check_ttl(state_store& s, unix_ms now) {
  SECTION("an expired key is invisible to get, list and batch_get") {
    must_set(s, "state:ttl:gone", "x", now, now + 1000);
    must_set(s, "state:ttl:kept", "y", now, 0);
    CHECK(s.get("state:ttl:gone", now + 999));
    CHECK_FALSE(s.get("state:ttl:gone", now + 1000));
    auto page = s.list(list_request{"state:ttl:", {}, 0}, now + 5000);
    REQUIRE(page);
    CHECK(page->keys == std::vector<std::string>{"state:ttl:kept"});
    auto batch = s.batch_get({"state:ttl:gone", "state:ttl:kept"}, now + 5000);
    REQUIRE(batch);
    CHECK_FALSE((*batch)[0].found());
    CHECK((*batch)[1].found());
    CHECK(s.get("state:ttl:gone", now + 999)->expires_at_ms == now + 1000);
  }
  SECTION("an expired key counts as absent for conditions") {
    must_set(s, "state:ttl:c", "x", now, now + 10);
    auto r = s.set(put("state:ttl:c", "y", condition::absent()), 0, now + 20);
    CHECK(r);
  }
  SECTION("rewriting without TTL clears the expiry") {
    must_set(s, "state:ttl:r", "x", now, now + 10);
    must_set(s, "state:ttl:r", "y", now, 0);
    CHECK(s.get("state:ttl:r", now + 100000));
  }
  SECTION("sweep drops expired keys and keeps live ones") {
    must_set(s, "state:ttl:s1", "x", now, now + 10);
    must_set(s, "state:ttl:s2", "y", now, 0);
    s.sweep(now + 20);
    CHECK_FALSE(s.get("state:ttl:s1", now + 20));
    CHECK(s.get("state:ttl:s2", now + 20));
  }
}

void check_listing(state_store& s, unix_ms now) {
  std::vector<std::string> keys;
  for (int i = 0; i < 57; ++i) {
    auto id = std::to_string(1000 + i);
    keys.push_back("order:eip7683:" + id);
  }
  for (auto& k : keys)
    must_set(s, k, "v", now);
  must_set(s, "order:eip7683x:1", "not in prefix", now);
  must_set(s, "order:other:1", "other", now);
  SECTION("list returns every key under the prefix, sorted") {
    auto page = s.list(list_request{"order:eip7683:", {}, 0}, now);
    REQUIRE(page);
    CHECK(page->keys == keys);
    CHECK_FALSE(page->more);
  }
  SECTION("paging visits every key exactly once") {
    std::vector<std::string> seen;
    std::string after;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = s.list(list_request{"order:eip7683:", after, 10}, now);
      REQUIRE(page);
      if (page->more)
        CHECK(page->keys.size() == 10);
      seen.insert(seen.end(), page->keys.begin(), page->keys.end());
      if (!page->more)
        break;
      after = page->keys.back();
    }
    CHECK(seen == keys);
  }
  SECTION("an exact last page says no more") {
    auto page = s.list(list_request{"order:eip7683:", keys[46], 10}, now);
    REQUIRE(page);
    CHECK(page->keys.size() == 10);
    CHECK_FALSE(page->more);
  }
  SECTION("the empty prefix lists everything") {
    auto page = s.list(list_request{"", {}, 0}, now);
    REQUIRE(page);
    CHECK(page->keys.size() == keys.size() + 2);
  }
  SECTION("a prefix with no keys lists nothing") {
    auto page = s.list(list_request{"settlement:", {}, 0}, now);
    REQUIRE(page);
    CHECK(page->keys.empty());
  }
}

void check_batch_get(state_store& s, unix_ms now) {
  auto v1 = must_set(s, "fill:o1:a", "A", now);
  auto v2 = must_set(s, "fill:o1:b", "B", now);
  auto batch = s.batch_get({"fill:o1:b", "fill:o1:missing", "fill:o1:a",
                            "fill:o1:b"},
                           now);
  REQUIRE(batch);
  REQUIRE(batch->size() == 4);
  CHECK((*batch)[0].value == "B");
  CHECK((*batch)[0].version == v2);
  CHECK_FALSE((*batch)[1].found());
  CHECK((*batch)[2].value == "A");
  CHECK((*batch)[2].version == v1);
  CHECK((*batch)[3].value == "B");
}

/// A backend that reads a batch at once (atomic_batch_read): the keys in
/// order, absent and expired ones at version 0, as many as fit the byte
/// budget, the first always.
void check_batch_read_at_once(state_store& s, unix_ms now) {
  auto* atomic = atomic_reader_of(s);
  if (!atomic)
    return;
  std::string value; // incompressible: the budget below holds few values
  std::mt19937 rng{7};
  for (int i = 0; i < 100; ++i)
    value.push_back(static_cast<char>('a' + rng() % 26));
  std::vector<std::string> keys;
  std::vector<version_t> versions;
  for (int i = 0; i < 6; ++i) {
    keys.push_back("fill:at:k" + std::to_string(i));
    if (i == 2)
      versions.push_back(0); // never written
    else if (i == 4)
      versions.push_back(must_set(s, keys.back(), value, now, now + 10));
    else
      versions.push_back(must_set(s, keys.back(), value + keys.back(), now));
  }
  auto later = now + 20; // k4 expired by then
  auto all = atomic->batch_get_within(keys, later, 1u << 20);
  REQUIRE(all);
  REQUIRE(all->size() == keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    INFO(keys[i]);
    if (i == 2 || i == 4) {
      CHECK_FALSE((*all)[i].found());
    } else {
      CHECK((*all)[i].value == value + keys[i]);
      CHECK((*all)[i].version == versions[i]);
    }
  }
  // A budget of about two stored values: fewer keys, read from the first.
  auto some = atomic->batch_get_within(keys, later, 250);
  REQUIRE(some);
  CHECK(some->size() >= 1);
  CHECK(some->size() < keys.size());
  for (size_t i = 0; i < some->size(); ++i)
    if (i != 2 && i != 4)
      CHECK((*some)[i].value == value + keys[i]);
  // No budget: the first key all the same.
  auto first = atomic->batch_get_within(keys, later, 0);
  REQUIRE(first);
  REQUIRE(first->size() == 1);
  CHECK((*first)[0].value == value + keys[0]);
}

void check_awkward_keys(state_store& s, unix_ms now) {
  std::vector<std::string> keys{
    "order:a",         "order:a:b",        "order:a:b:c",   "state:..:..",
    "state:.:x",       "state:a/b:c\\d",   "state:%2F:%",   "state::",
    "state:::x",       "fill:\xc3\xa9t\xc3\xa9:\xe2\x82\xac",
    "x",               "state: spaced :k",
    "settlement:o:" + std::string(1000, 'z'),
    "state:quote\"'`:$(rm -rf)",
    "state:star*?:[a]",
  };
  unsigned n = 0;
  for (auto& k : keys)
    must_set(s, k, "value-" + std::to_string(n++), now);
  n = 0;
  for (auto& k : keys) {
    auto e = s.get(k, now);
    INFO(k);
    REQUIRE(e);
    CHECK(e->value == "value-" + std::to_string(n++));
  }
  auto page = s.list(list_request{"order:a", {}, 0}, now);
  REQUIRE(page);
  CHECK(page->keys
        == std::vector<std::string>{"order:a", "order:a:b", "order:a:b:c"});
}

// -- through the actors -----------------------------------------------------------

/// Many clients increment one counter with read + conditional write + retry:
/// a lost update shows as a final count below the number of increments.
void check_concurrent_conditional_writers(const conformance_target& t) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  auto store = start_store(sys, t.config, compiled_plugins());
  INFO((store ? std::string{} : message_of(store.error())));
  REQUIRE(store);
  constexpr int writers = 8;
  constexpr int increments = 25;
  const std::string key = "state:race:counter";
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w)
    threads.emplace_back([&] {
      caf::scoped_actor self{sys};
      for (int i = 0; i < increments;) {
        int current = 0;
        condition cond = condition::absent();
        self->request(store->router, std::chrono::seconds{10}, get_atom_v, key)
          .receive(
            [&](entry& e) {
              current = std::stoi(e.value);
              cond = condition::matches(e.version);
            },
            [&](caf::error&) {});
        bool written = false;
        self
          ->request(store->router, std::chrono::seconds{10}, put_atom_v,
                    set_request{key, std::to_string(current + 1), 0, cond})
          .receive([&](const write_result&) { written = true; },
                   [&](caf::error& err) {
                     REQUIRE(code_of(err) == state_errc::version_mismatch);
                     ++conflicts;
                   });
        if (written)
          ++i;
      }
    });
  for (auto& th : threads)
    th.join();
  caf::scoped_actor self{sys};
  std::string final_value;
  self->request(store->router, std::chrono::seconds{10}, get_atom_v, key)
    .receive([&](entry& e) { final_value = e.value; },
             [&](caf::error& err) { FAIL(message_of(err)); });
  CHECK(final_value == std::to_string(writers * increments));
  stop_store(*store);
}

/// Keys spread over several shards: a listing through the router merges one
/// page per shard, so each shard must answer only for its own keys (backends
/// whose shards share one database must not return the others' keys).
void check_listing_across_shards(const conformance_target& t) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  auto config = t.config;
  config.shards = 8;
  auto store = start_store(sys, config, compiled_plugins());
  INFO((store ? std::string{} : message_of(store.error())));
  REQUIRE(store);
  caf::scoped_actor self{sys};
  auto timeout = std::chrono::seconds{10};
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i)
    keys.push_back("order:across:" + std::to_string(100 + i));
  std::vector<std::string> all = keys;
  all.push_back("state:across:x");
  for (auto& k : all)
    self->request(store->router, timeout, put_atom_v, set_request{k, "v", 0, {}})
      .receive([](const write_result&) {},
               [&](caf::error& err) { FAIL(message_of(err)); });
  auto list = [&](list_request req) {
    key_page out;
    self->request(store->router, timeout, list_atom_v, std::move(req))
      .receive([&](key_page& p) { out = std::move(p); },
               [&](caf::error& err) { FAIL(message_of(err)); });
    return out;
  };
  CHECK(list(list_request{"order:across:", {}, 0}).keys == keys);
  CHECK(list(list_request{"", {}, 0}).keys == all);
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 20; ++pages) {
    auto page = list(list_request{"order:across:", after, 7});
    seen.insert(seen.end(), page.keys.begin(), page.keys.end());
    if (!page.more || page.keys.empty())
      break;
    after = page.keys.back();
  }
  CHECK(seen == keys);
  id_list ids;
  self->request(store->router, timeout, list_atom_v, orders_of{"across", {}})
    .receive([&](id_list& x) { ids = std::move(x); },
             [&](caf::error& err) { FAIL(message_of(err)); });
  CHECK(ids.ids.size() == keys.size());
  stop_store(*store);
}

/// Delete by prefix through the real actors, over several shards (a shared
/// database's shards must each delete only their own keys): exactly the
/// live keys under the prefix go, and only they are counted; keys beside
/// it stay (the prefix's neighbours in byte order included); a placement
/// group's prefix, a limit, a prefix of more keys than one chunk, and an
/// empty prefix.
void check_delete_by_prefix(const conformance_target& t) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  auto config = t.config;
  config.shards = 2;
  auto store = start_store(sys, config, compiled_plugins());
  INFO((store ? std::string{} : message_of(store.error())));
  REQUIRE(store);
  caf::scoped_actor self{sys};
  auto timeout = std::chrono::seconds{60};
  auto put_key = [&](const std::string& k, int64_t ttl_ms = 0) {
    self
      ->request(store->router, timeout, put_atom_v,
                set_request{k, "v", ttl_ms, {}})
      .receive([](const write_result&) {},
               [&](caf::error& err) { FAIL(message_of(err)); });
  };
  auto delete_prefix = [&](std::string prefix, uint64_t limit = 0) {
    caf::expected<delete_prefix_result> out{delete_prefix_result{}};
    self
      ->request(store->router, timeout, delete_atom_v,
                delete_prefix_request{std::move(prefix), limit})
      .receive([&](delete_prefix_result& r) { out = r; },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  auto list_all = [&](std::string prefix) {
    key_page out;
    self->request(store->router, timeout, list_atom_v,
                  list_request{std::move(prefix), {}, 0})
      .receive([&](key_page& p) { out = std::move(p); },
               [&](caf::error& err) { FAIL(message_of(err)); });
    return out.keys;
  };
  std::vector<std::string> under{"a:", "a:1", "a:2", "a:x:y", "a:\xc3\xa9"};
  std::vector<std::string> beside{"A:1", "a", "a9", "a;", "b:1"};
  for (auto& k : under)
    put_key(k);
  for (auto& k : beside)
    put_key(k);
  put_key("a:expired", 1);
  std::this_thread::sleep_for(std::chrono::milliseconds{50});
  auto r = delete_prefix("a:");
  INFO((r ? std::string{} : message_of(r.error())));
  REQUIRE(r);
  CHECK(r->deleted == under.size());
  CHECK_FALSE(r->more);
  CHECK(list_all("") == beside);
  auto again = delete_prefix("a:");
  REQUIRE(again);
  CHECK(again->deleted == 0);

  auto empty = delete_prefix("");
  REQUIRE_FALSE(empty);
  CHECK(code_of(empty.error()) == state_errc::bad_request);
  CHECK(list_all("") == beside);

  // One placement group's prefix: its one owner deletes, fill:o10: stays.
  for (auto k : {"fill:o1:t1", "fill:o1:t2", "fill:o10:t1"})
    put_key(k);
  auto group = delete_prefix("fill:o1:");
  REQUIRE(group);
  CHECK(group->deleted == 2);
  CHECK(list_all("fill:") == std::vector<std::string>{"fill:o10:t1"});

  // More keys than one chunk per shard, deleted over calls of a limit.
  constexpr int many = 1'100;
  for (int i = 0; i < many; ++i)
    put_key("bulk:" + std::to_string(1000 + i));
  uint64_t total = 0;
  int calls = 0;
  for (bool more = true; more && calls < 20; ++calls) {
    auto part = delete_prefix("bulk:", 300);
    REQUIRE(part);
    CHECK(part->deleted <= 300 * config.shards);
    total += part->deleted;
    more = part->more;
  }
  CHECK(calls > 1);
  CHECK(total == many);
  CHECK(list_all("bulk:").empty());
  for (int i = 0; i < many; ++i)
    put_key("bulk:" + std::to_string(1000 + i));
  auto whole = delete_prefix("bulk:");
  REQUIRE(whole);
  CHECK(whole->deleted == many);
  CHECK_FALSE(whole->more);
  CHECK(list_all("bulk:").empty());
  CHECK(list_all("") == std::vector<std::string>{"A:1", "a", "a9", "a;",
                                                 "b:1", "fill:o10:t1"});
  stop_store(*store);
}

void check_shared_instances_race(const conformance_target& t) {
  // Two store instances (two connections) racing on one key: the backend
  // itself must make the conditional write atomic.
  auto a = open_one(t);
  auto b = open_one(t);
  auto now = wall_now();
  const std::string key = "state:race:shared";
  constexpr int increments = 100;
  auto worker = [&](state_store& s) {
    for (int i = 0; i < increments;) {
      auto e = s.get(key, now);
      auto cond = e ? condition::matches(e->version) : condition::absent();
      auto current = e ? std::stoi(e->value) : 0;
      if (s.set(put(key, std::to_string(current + 1), cond), 0, now))
        ++i;
    }
  };
  std::thread ta{worker, std::ref(*a)};
  std::thread tb{worker, std::ref(*b)};
  ta.join();
  tb.join();
  CHECK(a->get(key, now)->value == std::to_string(2 * increments));
}

} // namespace

/// With encryption on: the backend keeps no byte of a value in the clear,
/// every stored value names the primary key, compression comes before
/// encryption, and a stored value moved to another key or altered fails to
/// decode, as an error naming the key (the other keys unharmed).
void check_values_at_rest(const conformance_target& t, unix_ms now) {
  const std::string marker = "PLAINTEXT-MARKER-0123456789";
  std::string big;
  while (big.size() < 4096)
    big += "{\"field\":\"" + marker + "\"},";
  const std::vector<std::string> keys{"order:rest:big", "order:rest:small",
                                      "order:rest:late"};
  auto store = open_one(t);
  // What the backend keeps: the store under the codec.
  auto* coded = dynamic_cast<coded_store*>(store.get());
  REQUIRE(coded != nullptr);
  auto& raw = coded->inner();
  must_set(*store, keys[0], big, now);
  must_set(*store, keys[1], marker, now);
  REQUIRE_FALSE(store->commit());
  REQUIRE_FALSE(store->checkpoint()); // file: folded into the key tree
  must_set(*store, keys[2], marker, now); // file: only in the log
  REQUIRE_FALSE(store->commit());
  std::vector<std::string> stored;
  for (auto& key : keys) {
    auto e = raw.get(key, now);
    REQUIRE(e);
    auto form = inspect_stored(e->value);
    CHECK(form.encrypted);
    CHECK(form.key_id == t.config.encryption.primary);
    CHECK(e->value.find(marker) == std::string::npos);
    stored.push_back(e->value);
  }
  CHECK(stored[0].size() * 10 < big.size()); // zstd first: it compressed
  if (t.config.type == "file")
    CHECK(files_containing(t.config.file.base_path, marker).empty());
  // A stored value copied to another key, and one with a byte changed.
  must_set(raw, "order:rest:moved", stored[1], now);
  auto altered = stored[0];
  altered[altered.size() / 2] ^= 0x01;
  must_set(raw, keys[0], altered, now);
  REQUIRE_FALSE(store->commit());
  auto moved = store->get("order:rest:moved", now);
  REQUIRE_FALSE(moved);
  CHECK(failure(moved.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(moved.error()),
             Catch::Contains("order:rest:moved")
               && Catch::Contains("stored for another key"));
  auto tampered = store->get(keys[0], now);
  REQUIRE_FALSE(tampered);
  CHECK(failure(tampered.error()) == state_errc::backend_error);
  auto intact = store->get(keys[1], now);
  REQUIRE(intact);
  CHECK(intact->value == marker);
  store->close();
}

/// With encryption on, on a backend that keeps its data between two opens:
/// values that cannot be read (a stored value copied from another key, a
/// byte changed) fail a batch_get through the actors, over several shards,
/// unless it skips them: then it answers every other key and names those in
/// request order, each with its reason.
void check_unreadable_in_batches(const conformance_target& t, unix_ms now) {
  std::vector<std::string> keys;
  for (int i = 0; i < 24; ++i)
    keys.push_back("order:unreadable:" + std::to_string(100 + i));
  {
    auto store = open_one(t);
    auto& raw = dynamic_cast<coded_store&>(*store).inner();
    for (auto& key : keys)
      must_set(*store, key, "value of " + key, now);
    REQUIRE_FALSE(store->commit());
    auto moved = raw.get(keys[3], now);
    REQUIRE(moved);
    must_set(raw, keys[17], moved->value, now);
    auto altered = raw.get(keys[9], now);
    REQUIRE(altered);
    altered->value[altered->value.size() / 2] ^= 0x01;
    must_set(raw, keys[9], altered->value, now);
    REQUIRE_FALSE(store->commit());
    store->close();
  }
  auto config = t.config;
  config.shards = 4;
  running_store store{config};
  auto asked = keys;
  asked.insert(asked.begin() + 5, "order:unreadable:absent");
  auto batch = [&](bool skip) {
    return store.ask<batch_reply>(batch_get_atom_v,
                                  batch_request{asked, skip});
  };
  auto refused = batch(false);
  REQUIRE_FALSE(refused);
  CHECK(failure(refused.error()) == state_errc::backend_error);
  auto reply = batch(true);
  INFO((reply ? std::string{} : message_of(reply.error())));
  REQUIRE(reply);
  REQUIRE(reply->entries.size() == asked.size());
  CHECK(reply->unprocessed.empty());
  REQUIRE(reply->unreadable.size() == 2);
  CHECK(reply->unreadable[0].key == keys[9]);
  CHECK(reply->unreadable[1].key == keys[17]);
  CHECK_THAT(reply->unreadable[1].reason,
             Catch::Contains(keys[17])
               && Catch::Contains("stored for another key"));
  for (size_t i = 0; i < asked.size(); ++i) {
    INFO(asked[i]);
    auto& e = reply->entries[i];
    if (asked[i] == keys[9] || asked[i] == keys[17] || i == 5)
      CHECK_FALSE(e.found());
    else
      CHECK(e.value == "value of " + asked[i]);
  }
}

void run_conformance(const conformance_target& t) {
  t.reset();
  auto now = wall_now();
  SECTION("store level") {
    auto store = open_one(t);
    SECTION("basic operations") {
      check_basic_operations(*store, now);
    }
    SECTION("conditions") {
      check_conditions(*store, now);
    }
    SECTION("ttl") {
      check_ttl(*store, now);
    }
    SECTION("listing") {
      check_listing(*store, now);
    }
    SECTION("batch_get") {
      check_batch_get(*store, now);
    }
    SECTION("a batch read at once, within a budget") {
      check_batch_read_at_once(*store, now);
    }
    SECTION("awkward keys") {
      check_awkward_keys(*store, now);
    }
    SECTION("health") {
      CHECK_FALSE(store->health_check());
    }
    store->close();
  }
  SECTION("actor level: concurrent conditional writers lose no update") {
    check_concurrent_conditional_writers(t);
  }
  SECTION("actor level: a listing across shards returns each key once") {
    check_listing_across_shards(t);
  }
  run_transaction_conformance(t);
  SECTION("actor level: delete by prefix removes exactly the live keys "
          "under it") {
    check_delete_by_prefix(t);
  }
  if (t.config.encryption.enabled()) {
    SECTION("values at rest: encrypted, compressed, bound to their key") {
      check_values_at_rest(t, now);
    }
    if (t.config.type != "memory") {
      SECTION("actor level: a batch that skips unreadable values answers "
              "the others and names them") {
        check_unreadable_in_batches(t, now);
      }
    }
  }
  if (t.instances_share_data) {
    SECTION("two instances racing on one key lose no update") {
      check_shared_instances_race(t);
    }
  }
}

} // namespace solver_state::testing
