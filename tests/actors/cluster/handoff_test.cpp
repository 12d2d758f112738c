// The handoff of a member guard (actors/cluster/handoff.hpp), in process:
// two memory stores, node x leaving and node y taking over its keys. A
// stand-in for the network between them holds y's scans of x until the
// test releases them, so requests made to y meanwhile must claim their
// keys one by one; then the scan pulls the rest.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/cluster/member_guard.hpp"
#include "actors/cluster/membership.hpp"
#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "messages/protocol.hpp"
#include "tests/support/damaged_store.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

namespace {

constexpr int key_count = 300;

std::string key(int i) {
  return "state:ho:k" + std::to_string(i);
}

using hold_drops_atom = caf::atom_constant<caf::atom("holddrops")>;
using free_drops_atom = caf::atom_constant<caf::atom("freedrops")>;

/// Between y and x: fetches and drops pass at once; scans wait until the
/// test sends `tick_atom`, and every request fails once it sends `exit`.
/// After `hold_drops_atom`, drops wait too (counted in `drops_held`) until
/// `free_drops_atom`.
caf::behavior network(caf::event_based_actor* self, member_actor x,
                      std::shared_ptr<std::atomic<int>> drops_held) {
  struct held {
    caf::response_promise rp;
    handoff_scan_request req;
  };
  struct held_drop {
    caf::response_promise rp;
    handoff_keys req;
  };
  auto scans = std::make_shared<std::vector<held>>();
  auto drops = std::make_shared<std::vector<held_drop>>();
  auto open = std::make_shared<bool>(false);
  auto hold = std::make_shared<bool>(false);
  return {
    [=](handoff_scan_atom, handoff_scan_request& req) -> caf::result<
                                                         handoff_scan_page> {
      if (*open)
        return self->delegate(x, handoff_scan_atom_v, std::move(req));
      auto rp = self->make_response_promise();
      scans->push_back({rp, std::move(req)});
      return caf::delegated<handoff_scan_page>{};
    },
    [=](handoff_fetch_atom, handoff_keys& req) {
      return self->delegate(x, handoff_fetch_atom_v, std::move(req));
    },
    [=](handoff_drop_atom, handoff_keys& req) -> caf::result<uint64_t> {
      if (!*hold)
        return self->delegate(x, handoff_drop_atom_v, std::move(req));
      auto rp = self->make_response_promise();
      drops->push_back({rp, std::move(req)});
      ++*drops_held;
      return caf::delegated<uint64_t>{};
    },
    [=](hold_drops_atom) { *hold = true; },
    [=](free_drops_atom) {
      *hold = false;
      for (auto& d : *drops)
        d.rp.delegate(x, handoff_drop_atom_v, std::move(d.req));
      drops->clear();
    },
    [=](list_atom, list_request& req) {
      return self->delegate(x, list_atom_v, std::move(req));
    },
    [=](tick_atom) {
      *open = true;
      for (auto& h : *scans)
        h.rp.delegate(x, handoff_scan_atom_v, std::move(h.req));
      scans->clear();
    },
  };
}

/// Memory stores whose values of some keys cannot be read (a damaged
/// file, a value sealed under a key that is not configured), for one node.
class damaged_plugin final : public state_backend_plugin {
public:
  std::string_view name() const override { return "damaged"; }
  bool blocking() const override { return false; }
  caf::expected<store_list> create_stores(const state_config& cfg) override {
    store_list out;
    for (size_t i = 0; i < cfg.shards; ++i) {
      auto store = std::make_unique<testing::damaged_store>();
      stores_.push_back(store.get());
      out.push_back(std::move(store));
    }
    return out;
  }
  /// Before the node's actors read `key` (the set is not guarded).
  void damage(const std::string& key) {
    for (auto* s : stores_)
      s->damaged.insert(key);
  }

private:
  std::vector<testing::damaged_store*> stores_;
};

struct two_nodes;

/// What a test does to the two nodes' stores before the guards start.
using before_guards = std::function<void(two_nodes&)>;

struct two_nodes {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  store_handles x_store;
  store_handles y_store;
  member_guard_actor x;
  member_guard_actor y;
  caf::actor link;
  std::shared_ptr<std::atomic<int>> drops_held =
    std::make_shared<std::atomic<int>>(0);
  plugin_registry x_plugins;
  plugin_registry y_plugins;

  /// The damaged_plugin of x's or y's registry.
  static damaged_plugin& damaged(const plugin_registry& r) {
    return dynamic_cast<damaged_plugin&>(*r.find("damaged"));
  }

  /// With `prepare`, each node's store is a damaged_plugin's (x's, then
  /// y's), and `prepare` runs once x holds its keys.
  /// `members`: y and any other members (which no source stands for).
  explicit two_nodes(std::chrono::milliseconds patience = 2s,
                     before_guards prepare = {},
                     store_options options = {},
                     std::vector<std::string> members = {"y:1"}) {
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    state_config sc;
    sc.type = prepare ? "damaged" : "memory";
    sc.shards = 2;
    sc.max_items = 0; // a group of more than one list page fits
    x_plugins.add(std::make_unique<damaged_plugin>());
    y_plugins.add(std::make_unique<damaged_plugin>());
    auto xs = start_store(*sys, sc, prepare ? x_plugins : compiled_plugins(),
                          options);
    auto ys = start_store(*sys, sc, prepare ? y_plugins : compiled_plugins(),
                          options);
    REQUIRE(xs);
    REQUIRE(ys);
    x_store = std::move(*xs);
    y_store = std::move(*ys);
    for (int i = 0; i < key_count; ++i)
      REQUIRE(ask<write_result>(x_store.router, put_atom_v,
                                set_request{key(i), "v" + std::to_string(i),
                                            0, {}}));
    if (prepare)
      prepare(*this);
    // x leaves: y is the only member and owns every key (unless a test
    // names other members).
    std::vector<std::string> leaving{"x:1"};
    member_guard_settings xg;
    xg.local = x_store.router;
    xg.members = std::make_shared<const membership>(members, "x:1", leaving);
    x = spawn_member_guard(*sys, std::move(xg));
    link = sys->spawn(network, caf::actor_cast<member_actor>(x), drops_held);
    member_guard_settings yg;
    yg.local = y_store.router;
    yg.members = std::make_shared<const membership>(members, "y:1", leaving);
    yg.sources.push_back({"x:1", caf::actor_cast<member_actor>(link)});
    yg.claim_patience = patience;
    yg.scan_page = 64;
    y = spawn_member_guard(*sys, std::move(yg));
  }

  ~two_nodes() {
    for (auto a : {caf::actor_cast<caf::actor>(x),
                   caf::actor_cast<caf::actor>(y), link})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    stop_store(x_store);
    stop_store(y_store);
  }

  template <class Reply, class Handle, class... Ts>
  caf::expected<Reply> ask(const Handle& to, Ts... xs) {
    caf::scoped_actor self{*sys};
    caf::expected<Reply> result{caf::error{}};
    self->request(to, 10s, std::move(xs)...)
      .receive([&](Reply& r) { result = std::move(r); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::vector<std::string> keys_of(const store_handles& s) {
    auto page = ask<key_page>(s.router, list_atom_v,
                              list_request{"state:ho:", "", 0});
    REQUIRE(page);
    return page->keys;
  }

  bool has(const store_handles& s, const std::string& k) {
    return static_cast<bool>(ask<entry>(s.router, get_atom_v, k));
  }

  handoff_stats stats(const member_guard_actor& g) {
    auto s = ask<handoff_stats>(g, handoff_stats_atom_v);
    REQUIRE(s);
    return *s;
  }

  void release_scans() { caf::anon_send(link, tick_atom_v); }

  void wait_until_done() {
    for (int i = 0; i < 500 && stats(y).active; ++i)
      std::this_thread::sleep_for(10ms);
    REQUIRE_FALSE(stats(y).active);
  }
};

} // namespace

TEST_CASE("a key requested during the handoff is claimed from the node that "
          "holds it, and the pull that follows does not bring back a key "
          "deleted meanwhile") {
  two_nodes n;
  CHECK(n.stats(n.y).active);
  // A read finds the key on x and moves it: served by y, gone from x.
  auto got = n.ask<entry>(n.y, get_atom_v, key(5));
  INFO((got ? "" : message_of(got.error())));
  REQUIRE(got);
  CHECK(got->value == "v5");
  CHECK(n.has(n.y_store, key(5)));
  CHECK_FALSE(n.has(n.x_store, key(5)));
  // A delete of a key still on x removes it everywhere.
  auto deleted = n.ask<bool>(n.y, delete_atom_v, delete_request{key(7), {}});
  REQUIRE(deleted);
  CHECK(*deleted);
  CHECK_FALSE(n.has(n.x_store, key(7)));
  // A conditional write sees the value x held: create-only fails, and a
  // write at the version y now reports succeeds.
  set_request create{key(9), "new", 0, condition::absent()};
  auto refused = n.ask<write_result>(n.y, put_atom_v, create);
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::version_mismatch);
  auto nine = n.ask<entry>(n.y, get_atom_v, key(9));
  REQUIRE(nine);
  CHECK(nine->value == "v9");
  auto updated = n.ask<write_result>(
    n.y, put_atom_v,
    set_request{key(9), "v9-updated", 0, condition::matches(nine->version)});
  REQUIRE(updated);
  // A key nobody holds is absent; a new key is created on y.
  CHECK_FALSE(n.ask<entry>(n.y, get_atom_v, std::string{"state:ho:none"}));
  CHECK(n.ask<write_result>(n.y, put_atom_v,
                            set_request{"state:ho:new", "n", 0, {}}));
  // Deleting by prefix waits for the handoff.
  auto prefix = n.ask<delete_prefix_result>(n.y, delete_atom_v,
                                            delete_prefix_request{"state:ho:"});
  REQUIRE_FALSE(prefix);
  CHECK(code_of(prefix.error()) == state_errc::backend_unavailable);
  // Now the scan pulls the rest.
  n.release_scans();
  n.wait_until_done();
  CHECK(n.keys_of(n.x_store).empty());
  auto on_y = n.keys_of(n.y_store);
  CHECK(on_y.size() == key_count); // k7 deleted, state:ho:new added
  CHECK_FALSE(n.has(n.y_store, key(7)));
  auto nine_after = n.ask<entry>(n.y, get_atom_v, key(9));
  REQUIRE(nine_after);
  CHECK(nine_after->value == "v9-updated");
  for (int i : {0, 1, 150, key_count - 1}) {
    auto e = n.ask<entry>(n.y, get_atom_v, key(i));
    REQUIRE(e);
    CHECK(e->value == "v" + std::to_string(i));
  }
  // Every key x held was copied in once (k7 before its delete).
  CHECK(n.stats(n.y).keys_in == key_count);
  CHECK(n.stats(n.x).keys_out == key_count);
  CHECK(n.stats(n.y).sources_pending == 0);
}

TEST_CASE("values that do not fit one reply are claimed a part at a time: "
          "the handoff ends with every key moved") {
  // A fetch of a claim's 256 keys answers only what fits max_reply_bytes
  // and names the rest unprocessed; the claim took that for a failure and
  // the pull retried the same page for good.
  store_options small_replies;
  small_replies.max_reply_bytes = 64; // about 20 of these values a reply
  two_nodes n{2s, {}, small_replies};
  auto got = n.ask<entry>(n.y, get_atom_v, key(5));
  REQUIRE(got);
  CHECK(got->value == "v5");
  n.release_scans();
  n.wait_until_done();
  CHECK(n.keys_of(n.x_store).empty());
  CHECK(n.keys_of(n.y_store).size() == key_count);
  for (int i : {0, 5, 150, key_count - 1}) {
    auto e = n.ask<entry>(n.y_store.router, get_atom_v, key(i));
    REQUIRE(e);
    CHECK(e->value == "v" + std::to_string(i));
  }
  CHECK(n.stats(n.y).keys_in == key_count);
}

TEST_CASE("a batch_get with a key another member owns answers the keys "
          "before it (claimed first) and names the rest unprocessed") {
  // A whole coalesced batch failed for one moved key, naming its owner
  // for every read. Found by review.
  two_nodes n{2s, {}, {}, {"y:1", "z:1"}};
  membership m{{"y:1", "z:1"}, "y:1"};
  std::vector<std::string> mine, theirs;
  for (int i = 0; mine.size() < 2 || theirs.empty(); ++i)
    (m.misdirected(key(i)) ? theirs : mine).push_back(key(i));
  // During the handoff (x's scans held): y's keys are claimed from x.
  auto reply = n.ask<batch_reply>(
    n.y, batch_get_atom_v, batch_request{{mine[0], theirs[0], mine[1]}});
  REQUIRE(reply);
  REQUIRE(reply->entries.size() == 1);
  CHECK(reply->entries[0].value == "v" + mine[0].substr(mine[0].rfind('k') + 1));
  CHECK(reply->unprocessed == std::vector<std::string>{theirs[0], mine[1]});
  CHECK(n.has(n.y_store, mine[0]));
  // Its first key another member's: refused, naming that member.
  auto refused = n.ask<batch_reply>(n.y, batch_get_atom_v,
                                    batch_request{{theirs[0], mine[1]}});
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::backend_unavailable);
  CHECK(message_of(refused.error()).find("belongs to node z:1")
        != std::string::npos);
  // Once the handoff is over the same.
  n.release_scans();
  auto after = n.ask<batch_reply>(
    n.y, batch_get_atom_v, batch_request{{mine[1], theirs[0]}});
  REQUIRE(after);
  CHECK(after->entries.size() == 1);
  CHECK(after->unprocessed == std::vector<std::string>{theirs[0]});
}

TEST_CASE("a leaving node serves none of its keys and refuses handoff "
          "requests stamped with another member list") {
  two_nodes n;
  auto got = n.ask<entry>(n.x, get_atom_v, key(1));
  REQUIRE_FALSE(got);
  CHECK(code_of(got.error()) == state_errc::backend_unavailable);
  CHECK(message_of(got.error()).find("belongs to node y:1")
        != std::string::npos);
  membership other{{"y:1", "z:1"}, "y:1"};
  auto scan = n.ask<handoff_scan_page>(
    n.x, handoff_scan_atom_v, handoff_scan_request{other.hash(), 0, ""});
  REQUIRE_FALSE(scan);
  CHECK(code_of(scan.error()) == state_errc::backend_unavailable);
  auto fetch = n.ask<batch_reply>(n.x, handoff_fetch_atom_v,
                                  handoff_keys{other.hash(), {key(1)}, {}});
  REQUIRE_FALSE(fetch);
  CHECK(n.has(n.x_store, key(1)));
}

TEST_CASE("a claim that cannot reach the holder fails its request within "
          "the claim's patience, naming the holder, and loses nothing") {
  two_nodes n{300ms};
  caf::anon_send_exit(n.link, caf::exit_reason::kill);
  auto started = std::chrono::steady_clock::now();
  auto got = n.ask<entry>(n.y, get_atom_v, key(3));
  auto waited = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(got);
  INFO(message_of(got.error()) << " after " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() << " ms");
  CHECK(code_of(got.error()) == state_errc::backend_unavailable);
  CHECK(message_of(got.error()).find("x:1") != std::string::npos);
  // Tried again while its patience lasted (every 100 ms), then answered.
  CHECK(waited >= 150ms);
  CHECK(waited < 1s);
  CHECK(n.has(n.x_store, key(3)));
  CHECK_FALSE(n.has(n.y_store, key(3)));
  CHECK(n.stats(n.y).active);
}

TEST_CASE("during the handoff a list of one placement group claims the "
          "group's keys still on the leaving node, every page of them") {
  two_nodes n;
  // More keys than one list page (max_list_page): a claim that took only
  // the first page would leave the last ones out.
  const int group_keys = static_cast<int>(max_list_page) + 5;
  std::vector<std::string> written;
  for (int i = 0; i < group_keys; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "state:{t}:%06d", i);
    written.emplace_back(name);
    REQUIRE(n.ask<write_result>(n.x_store.router, put_atom_v,
                                set_request{name, "g", 0, {}}));
  }
  REQUIRE(n.stats(n.y).active); // the scans are held: nothing pulled yet
  std::vector<std::string> listed;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = n.ask<key_page>(n.y, list_atom_v,
                                list_request{"state:{t}:", after, 0});
    INFO((page ? "" : message_of(page.error())));
    REQUIRE(page);
    listed.insert(listed.end(), page->keys.begin(), page->keys.end());
    if (!page->more)
      break;
    after = page->keys.back();
  }
  CHECK(listed == written);
  // Claimed, not copied: the leaving node holds none of them any more.
  auto left = n.ask<key_page>(n.x_store.router, list_atom_v,
                              list_request{"state:{t}:", "", 0});
  REQUIRE(left);
  CHECK(left->keys.empty());
}

TEST_CASE("a copy re-encrypted on the leaving node after its fetch is still "
          "dropped there, and no copy stays behind at its new version") {
  two_nodes n;
  caf::anon_send(n.link, hold_drops_atom::value);
  // y claims key(5) for a read: the fetch passes, the drop waits.
  caf::expected<entry> got{caf::error{}};
  std::thread reader{[&] { got = n.ask<entry>(n.y, get_atom_v, key(5)); }};
  // Whatever fails below, the drops go on and the reader is joined.
  struct finish_reader {
    two_nodes& n;
    std::thread& reader;
    ~finish_reader() {
      caf::anon_send(n.link, free_drops_atom::value);
      if (reader.joinable())
        reader.join();
    }
  } finish{n, reader};
  for (int i = 0; i < 500 && *n.drops_held == 0; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(*n.drops_held == 1);
  // Meanwhile x's rotation walk rewrites its copy: the same value, a new
  // version (as coded_store's rewrite does).
  auto before = n.ask<entry>(n.x_store.router, get_atom_v, key(5));
  REQUIRE(before);
  REQUIRE(n.ask<write_result>(
    n.x_store.router, put_atom_v,
    set_request{key(5), before->value, 0, condition::matches(before->version)}));
  caf::anon_send(n.link, free_drops_atom::value);
  reader.join();
  INFO((got ? "" : message_of(got.error())));
  REQUIRE(got);
  CHECK(got->value == "v5");
  CHECK(n.has(n.y_store, key(5)));
  CHECK_FALSE(n.has(n.x_store, key(5)));
}

TEST_CASE("a value the leaving node cannot read holds the handoff back and "
          "loses nothing, and once it is gone the handoff ends") {
  two_nodes n{2s, [](two_nodes& n) {
    two_nodes::damaged(n.x_plugins).damage(key(7));
  }};
  n.release_scans();
  // The page holding key(7) cannot be claimed: the pull retries it.
  std::this_thread::sleep_for(1500ms);
  CHECK(n.stats(n.y).active);
  CHECK(n.stats(n.y).sources_pending == 1);
  // Every key is on one node or the other, key(7) still on x.
  auto on_x = n.keys_of(n.x_store);
  auto on_y = n.keys_of(n.y_store);
  CHECK(std::count(on_x.begin(), on_x.end(), key(7)) == 1);
  std::vector<std::string> all = on_x;
  all.insert(all.end(), on_y.begin(), on_y.end());
  std::sort(all.begin(), all.end());
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  CHECK(all.size() == key_count);
  // Other keys are served meanwhile (a claim of its own).
  auto other = n.ask<entry>(n.y, get_atom_v, key(250));
  REQUIRE(other);
  CHECK(other->value == "v250");
  // The operator deletes the damaged key on x: the next retry moves the
  // rest and the handoff ends.
  REQUIRE(n.ask<bool>(n.x_store.router, delete_atom_v,
                      delete_request{key(7), {}}));
  n.wait_until_done();
  CHECK(n.keys_of(n.x_store).empty());
  CHECK(n.keys_of(n.y_store).size() == key_count - 1);
}

TEST_CASE("on a store that every node shares the handoff never runs and no "
          "node drops a key for another") {
  // Two members on one Redis took each other's keys for copies and dropped
  // them: the database lost them (found by review). Here both guards sit
  // on one memory store marked shared, x leaving and y owning every key.
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config sc;
  sc.type = "memory";
  sc.shards = 2;
  sc.max_items = 0;
  auto store = start_store(sys, sc, compiled_plugins());
  REQUIRE(store);
  caf::scoped_actor self{sys};
  auto ask_keys = [&] {
    std::vector<std::string> keys;
    self->request(store->router, 10s, list_atom_v,
                  list_request{"state:ho:", "", 0})
      .receive([&](key_page& p) { keys = std::move(p.keys); },
               [&](caf::error& err) { CHECK(message_of(err).empty()); });
    return keys;
  };
  for (int i = 0; i < 50; ++i)
    self->request(store->router, 10s, put_atom_v,
                  set_request{key(i), "v", 0, {}})
      .receive([](write_result&) {},
               [&](caf::error& err) { CHECK(message_of(err).empty()); });
  std::vector<std::string> members{"y:1"};
  std::vector<std::string> leaving{"x:1"};
  member_guard_settings xg;
  xg.local = store->router;
  xg.members = std::make_shared<const membership>(members, "x:1", leaving);
  xg.shared_store = true;
  auto x = spawn_member_guard(sys, std::move(xg));
  member_guard_settings yg;
  yg.local = store->router;
  auto y_view = std::make_shared<const membership>(members, "y:1", leaving);
  yg.members = y_view;
  yg.sources.push_back({"x:1", x});
  yg.shared_store = true;
  yg.retry = 20ms;
  auto y = spawn_member_guard(sys, std::move(yg));
  // Stopped however the test ends: the actor system waits for them.
  struct stop_all {
    std::vector<caf::actor> actors;
    store_handles& store;
    ~stop_all() {
      for (auto& a : actors)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      stop_store(store);
    }
  } stop{{caf::actor_cast<caf::actor>(x), caf::actor_cast<caf::actor>(y)},
         *store};
  std::this_thread::sleep_for(500ms);
  handoff_stats stats;
  self->request(y, 10s, handoff_stats_atom_v)
    .receive([&](handoff_stats& s) { stats = s; },
             [&](caf::error& err) { CHECK(message_of(err).empty()); });
  CHECK_FALSE(stats.active);
  CHECK(ask_keys().size() == 50);
  // y serves its keys from the one store; x refuses to hand any over.
  self->request(y, 10s, get_atom_v, key(3))
    .receive([](entry& e) { CHECK(e.value == "v"); },
             [&](caf::error& err) { CHECK(message_of(err).empty()); });
  entry e3;
  self->request(store->router, 10s, get_atom_v, key(3))
    .receive([&](entry& e) { e3 = std::move(e); },
             [&](caf::error& err) { CHECK(message_of(err).empty()); });
  self->request(x, 10s, handoff_drop_atom_v,
                handoff_keys{y_view->hash(), {key(3)}, {e3.version}})
    .receive([](uint64_t dropped) { CHECK(dropped == 0); },
             [](caf::error& err) {
               CHECK(code_of(err) == state_errc::bad_request);
             });
  CHECK(ask_keys().size() == 50);
}

namespace {

/// Answers nothing: a source that cannot be reached, so a handoff that
/// starts stays active.
caf::behavior silent_source(caf::event_based_actor* self) {
  return {
    [=](handoff_scan_atom, handoff_scan_request&)
      -> caf::result<handoff_scan_page> {
      return self->make_response_promise<handoff_scan_page>();
    },
  };
}

} // namespace

TEST_CASE("the handoff marker records the leaving nodes pulled from: a "
          "node.leaving forgotten at first makes the next start pull, and "
          "dropping a drained node from it needs no new pass") {
  // Member y started without x in node.leaving: it pulled from nobody,
  // wrote its marker, and after the config was corrected its restart said
  // "handoff: none needed": x's keys stayed on x for good (found by review).
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config sc;
  sc.type = "memory";
  sc.shards = 2;
  sc.max_items = 0;
  auto xs = start_store(sys, sc, compiled_plugins());
  auto ys = start_store(sys, sc, compiled_plugins());
  REQUIRE(xs);
  REQUIRE(ys);
  std::vector<caf::actor> spawned;
  struct stop_all {
    std::vector<caf::actor>& actors;
    store_handles& x;
    store_handles& y;
    ~stop_all() {
      for (auto& a : actors)
        caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
      stop_store(x);
      stop_store(y);
    }
  } stop{spawned, *xs, *ys};
  caf::scoped_actor self{sys};
  auto count = [&](const store_handles& s) {
    size_t n = 0;
    self->request(s.router, 10s, list_atom_v, list_request{"state:ho:", "", 0})
      .receive([&](key_page& p) { n = p.keys.size(); },
               [&](caf::error& err) { CHECK(message_of(err).empty()); });
    return n;
  };
  auto stats = [&](const member_guard_actor& g) {
    handoff_stats out;
    self->request(g, 10s, handoff_stats_atom_v)
      .receive([&](handoff_stats& s) { out = s; },
               [&](caf::error& err) { CHECK(message_of(err).empty()); });
    return out;
  };
  for (int i = 0; i < 40; ++i)
    self->request(xs->router, 10s, put_atom_v, set_request{key(i), "v", 0, {}})
      .receive([](write_result&) {},
               [&](caf::error& err) { CHECK(message_of(err).empty()); });
  char dir_template[] = "/tmp/handoff-marker-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  std::string marker = std::string{dir_template} + "/~cluster-handoff";
  std::vector<std::string> members{"y:1"};
  std::vector<std::string> leaving{"x:1"};
  auto y_guard = [&](std::vector<std::string> y_leaving,
                     std::vector<handoff_source> sources) {
    member_guard_settings g;
    g.local = ys->router;
    g.members = std::make_shared<const membership>(members, "y:1",
                                                   std::move(y_leaving));
    g.sources = std::move(sources);
    g.marker_path = marker;
    g.timeout = 300ms;
    g.retry = 20ms;
    auto guard = spawn_member_guard(sys, std::move(g));
    spawned.push_back(caf::actor_cast<caf::actor>(guard));
    return guard;
  };
  // 1. y without node.leaving: nothing to pull, the marker is written.
  auto forgot = y_guard({}, {});
  for (int i = 0; i < 100 && stats(forgot).active; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK_FALSE(stats(forgot).active);
  caf::anon_send_exit(forgot, caf::exit_reason::user_shutdown);
  CHECK(count(*xs) == 40);
  // x (leaving x) refuses the scans of a node that does not know x leaves.
  member_guard_settings xg;
  xg.local = xs->router;
  xg.members = std::make_shared<const membership>(members, "x:1", leaving);
  auto x = spawn_member_guard(sys, std::move(xg));
  spawned.push_back(caf::actor_cast<caf::actor>(x));
  membership y_forgot{members, "y:1"};
  self->request(x, 10s, handoff_scan_atom_v,
                handoff_scan_request{y_forgot.hash(), 0, ""})
    .receive([](handoff_scan_page&) { CHECK(false); },
             [](caf::error& err) {
               CHECK(code_of(err) == state_errc::backend_unavailable);
             });
  // 2. The config corrected: y pulls from x despite its marker.
  auto corrected = y_guard(leaving, {{"x:1", x}});
  for (int i = 0; i < 500 && stats(corrected).active; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK_FALSE(stats(corrected).active);
  CHECK(stats(corrected).keys_in == 40);
  CHECK(count(*xs) == 0);
  CHECK(count(*ys) == 40);
  caf::anon_send_exit(corrected, caf::exit_reason::user_shutdown);
  // 3. x drained and dropped from node.leaving: no new pass, even with a
  // source that would never answer.
  auto silent = sys.spawn(silent_source);
  spawned.push_back(silent);
  auto after = y_guard({}, {{"z:1", caf::actor_cast<member_actor>(silent)}});
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(stats(after).active);
  caf::anon_send_exit(after, caf::exit_reason::user_shutdown);
  std::filesystem::remove_all(dir_template);
}

TEST_CASE("a node that leaves removes its handoff marker: added back under "
          "the member list it names, it pulls again") {
  // Found by review: x added to {x, y}, removed (started as leaving), then
  // added back with the same hosts: its marker still named that list, the
  // start said "handoff: none needed", and x served its share from its
  // drained store (a quarter of the keys read 404 through every node).
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config sc;
  sc.type = "memory";
  sc.shards = 1;
  sc.max_items = 0;
  auto xs = start_store(sys, sc, compiled_plugins());
  REQUIRE(xs);
  char dir_template[] = "/tmp/handoff-leave-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  std::string marker = std::string{dir_template} + "/~cluster-handoff";
  std::vector<std::string> both{"x:1", "y:1"};
  auto guard_as = [&](std::vector<std::string> members,
                      std::vector<std::string> leaving) {
    member_guard_settings g;
    g.local = xs->router;
    g.members = std::make_shared<const membership>(std::move(members), "x:1",
                                                   std::move(leaving));
    g.marker_path = marker;
    g.timeout = 300ms;
    g.retry = 20ms;
    return spawn_member_guard(sys, std::move(g));
  };
  auto eventually = [](auto pred) {
    for (int i = 0; i < 200 && !pred(); ++i)
      std::this_thread::sleep_for(10ms);
    return pred();
  };
  // 1. x a member of {x, y}: nothing to pull, the marker is written.
  auto member = guard_as(both, {});
  CHECK(eventually([&] { return std::filesystem::exists(marker); }));
  caf::anon_send_exit(member, caf::exit_reason::user_shutdown);
  // 2. x leaving, y the only member: the marker goes.
  auto leaving = guard_as({"y:1"}, {"x:1"});
  CHECK(eventually([&] { return !std::filesystem::exists(marker); }));
  caf::anon_send_exit(leaving, caf::exit_reason::user_shutdown);
  // 3. x added back under {x, y}: no marker says it is done, it pulls and
  // writes the marker again.
  auto back = guard_as(both, {});
  CHECK(eventually([&] { return std::filesystem::exists(marker); }));
  caf::anon_send_exit(back, caf::exit_reason::user_shutdown);
  stop_store(*xs);
  std::error_code ec; // a guard told to stop may still be writing
  std::filesystem::remove_all(dir_template, ec);
}
