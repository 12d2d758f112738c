// Issue 16's benchmark, one run, same machine, ratios against baselines
// measured in the same run:
//  (a) "which orders are pending, soonest deadline first?" over N orders
//      under one prefix, 1% pending: the indexed query (100 a page, every
//      page, with values) against what a client does without indexes: list
//      the prefix a page at a time, batch-get each page, parse every value
//      and keep the pending ones, then sort them by deadline;
//  (b) single-key writes of orders to a store with two declared indexes
//      (status, deadline) against the same store with none, interleaved
//      rounds, median rates;
//  (c) the memory the indexes of (a) take: heap bytes of an index set
//      holding the N orders (malloc's count, before and after), and the
//      index set's own time per put and per update, on one thread;
//  (d) reading the two indexed fields of a value, what every indexed write
//      and every build from the values does: extract_fields (simdjson)
//      against a Boost.JSON DOM and its pointer lookup (what it replaced),
//      on these orders and on 1.5 KiB EIP-7683 orders, best of 5 passes.
// Both on the memory backend through the router and shards, the path a CAF
// solver takes; (a) with one request at a time, as a client pages.
// Usage: query-bench [orders=1000000] [writes=200000] [rounds=3] [window=128]
//                    [engine: redis://host:port/db or postgresql://...: (a)
//                     and (b) on that shared engine, 2 shards, (a) with a
//                     second instance's build of the indexes from the
//                     values timed; with indexes the change feed's
//                     read-back included. `postgresql`
//                     alone: on a throwaway PostgreSQL 15 cluster the
//                     benchmark starts (fsync off, as the tests run it).
//                     `file` or `rocksdb`: (b) alone on that embedded
//                     engine as the service runs it by default (1 shard,
//                     fsync: always), under a directory of the system's
//                     temp directory, removed at the end]
//                    [instances=1: (b) on the engine through this many
//                     service instances sharing its data, each writing its
//                     share of the keys and following the others' writes
//                     through the change feed; each round then waits until
//                     every instance's query agrees with the data]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/query/index_set.hpp"
#include "actors/query/json_fields.hpp"
#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "bench/order_values.hpp"
#include "messages/errors.hpp"
#include "messages/protocol.hpp"
#include "tests/support/eip7683_order.hpp"
#include "util/allocator.hpp"

#ifdef QUERY_BENCH_STARTS_POSTGRES
#include "tests/support/postgres_server.hpp"
#endif

using namespace solver_state;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string prefix = "order:bench:";

/// (b) on a shared engine instead of the memory backend when set
/// (argv[5]): its URL, with or without options (watches=local: no change
/// feed read).
std::string engine_url;

bool on_postgres() { return engine_url.rfind("postgresql://", 0) == 0; }

/// `file` or `rocksdb`: an embedded engine, its stores under embedded_base.
bool on_embedded() { return engine_url == "file" || engine_url == "rocksdb"; }

/// Redis or PostgreSQL: data shared by the instances, reached over TCP.
bool on_network_engine() { return !engine_url.empty() && !on_embedded(); }
std::filesystem::path embedded_base;

state_config store_config(bool indexed) {
  state_config sc;
  sc.type = "memory";
  sc.shards = 4;
  if (on_embedded()) {
    // The service's defaults but the directory: one shard, fsync: always.
    sc.type = engine_url;
    sc.shards = file_default_shards;
    auto base = (embedded_base / (indexed ? "indexed" : "plain")).string();
    sc.file.base_path = base;
    sc.rocksdb.base_path = base;
  } else if (!engine_url.empty()) {
    // Two stores of one run side by side: a namespace (Redis) or a table
    // (PostgreSQL) each.
    auto options = engine_url.find('?') == std::string::npos ? "?" : "&";
    auto space = on_postgres()
                   ? (indexed ? "table=qb_indexed" : "table=qb_plain")
                   : (indexed ? "prefix=qb-indexed:" : "prefix=qb-plain:");
    sc.type = engine_url + options + space;
    sc.shards = 2;
  }
  sc.max_items = 0;
  if (indexed)
    sc.indexes = {{"status", prefix, "/status"},
                  {"deadline", prefix, "/deadline"}};
  return sc;
}

std::string order_key(size_t i) {
  return prefix + "0x" + std::to_string(10'000'000 + i);
}


/// Puts keys[i] = values[i] for i < total, `window` puts in flight; then
/// tells `done` how many failed.
void drive_puts(caf::event_based_actor* self, state_actor target,
                std::shared_ptr<std::vector<std::string>> keys,
                std::shared_ptr<std::vector<std::string>> values, size_t total,
                size_t window, caf::actor done) {
  struct progress {
    size_t sent = 0, answered = 0, failed = 0;
  };
  auto p = std::make_shared<progress>();
  auto next = std::make_shared<std::function<void()>>();
  *next = [=] {
    if (p->sent == total)
      return;
    auto i = p->sent++;
    auto finish = [=] {
      if (++p->answered == total)
        self->send(done, p->failed);
      else
        (*next)();
    };
    self
      ->request(target, caf::infinite, put_atom_v,
                set_request{(*keys)[i], (*values)[i], 0, {}})
      .then([=](const write_result&) { finish(); },
            [=](caf::error&) {
              ++p->failed;
              finish();
            });
  };
  for (size_t i = 0; i < window && i < total; ++i)
    (*next)();
}

template <class Reply, class... Ts>
Reply ask(caf::scoped_actor& self, const state_actor& store, Ts&&... xs) {
  Reply out;
  bool ok = false;
  self->request(store, std::chrono::seconds{60}, std::forward<Ts>(xs)...)
    .receive(
      [&](Reply& r) {
        out = std::move(r);
        ok = true;
      },
      [&](caf::error& err) {
        std::fprintf(stderr, "request failed: %s\n", message_of(err).c_str());
      });
  if (!ok)
    std::exit(1);
  return out;
}

/// Seconds until `store` answers the pending query (its indexes built);
/// exits when it has not after 10 minutes.
double seconds_until_queries_answer(caf::actor_system& sys,
                                    const state_actor& store) {
  caf::scoped_actor self{sys};
  auto req = orders_with_status("bench", "status", "pending", "deadline", 100);
  auto started = clock_type::now();
  while (true) {
    bool answered = false;
    self->request(store, std::chrono::seconds{60}, query_atom_v, req)
      .receive([&](const query_page&) { answered = true; },
               [&](const caf::error& err) {
                 if (code_of(err) != state_errc::backend_unavailable) {
                   std::fprintf(stderr, "query failed: %s\n",
                                message_of(err).c_str());
                   std::exit(1);
                 }
               });
    std::chrono::duration<double> took = clock_type::now() - started;
    if (answered)
      return took.count();
    if (took.count() > 600) {
      std::fprintf(stderr, "the indexes were not built in 10 minutes\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

/// The indexed way: every page of the pending orders by deadline.
std::vector<std::string> pending_by_query(caf::actor_system& sys,
                                          const state_actor& store) {
  caf::scoped_actor self{sys};
  auto req = orders_with_status("bench", "status", "pending", "deadline", 100);
  std::vector<std::string> keys;
  while (true) {
    auto page = ask<query_page>(self, store, query_atom_v, req);
    for (auto& item : page.items)
      keys.push_back(std::move(item.key));
    if (page.next_cursor.empty())
      return keys;
    req.cursor = std::move(page.next_cursor);
  }
}

/// A client's way without indexes: list, batch-get, parse, filter, sort.
std::vector<std::string> pending_by_scan(caf::actor_system& sys,
                                         const state_actor& store) {
  caf::scoped_actor self{sys};
  struct found {
    int64_t deadline;
    std::string key;
  };
  std::vector<found> pending;
  std::string after;
  while (true) {
    auto page = ask<key_page>(self, store, list_atom_v,
                              list_request{prefix, after, 1000});
    if (page.keys.empty())
      break;
    after = page.keys.back();
    batch_request batch{page.keys};
    auto values = ask<batch_reply>(self, store, batch_get_atom_v, batch);
    for (size_t i = 0; i < values.entries.size(); ++i) {
      boost::json::error_code ec;
      auto doc = boost::json::parse(values.entries[i].value, ec);
      if (ec || !doc.is_object())
        continue;
      auto& o = doc.get_object();
      auto* status = o.if_contains("status");
      if (!status || !status->is_string() || status->get_string() != "pending")
        continue;
      auto* deadline = o.if_contains("deadline");
      pending.push_back(
        {deadline && deadline->is_int64() ? deadline->get_int64() : 0,
         page.keys[i]});
    }
    if (!page.more)
      break;
  }
  std::sort(pending.begin(), pending.end(), [](auto& a, auto& b) {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.key < b.key;
  });
  std::vector<std::string> keys;
  for (auto& f : pending)
    keys.push_back(std::move(f.key));
  return keys;
}

/// Puts keys[i] = values[(i + offset) % values] for i < total through
/// `stores` at once, store j writing the keys i with i % stores == j (each
/// with its own window); seconds until every put is answered.
double put_split(caf::actor_system& sys, const std::vector<state_actor>& stores,
                 const std::vector<std::string>& keys,
                 const std::vector<std::string>& values, size_t total,
                 size_t window, size_t offset) {
  auto n = stores.size();
  std::vector<std::shared_ptr<std::vector<std::string>>> my_keys, my_values;
  for (size_t j = 0; j < n; ++j) {
    my_keys.push_back(std::make_shared<std::vector<std::string>>());
    my_values.push_back(std::make_shared<std::vector<std::string>>());
  }
  for (size_t i = 0; i < total; ++i) {
    my_keys[i % n]->push_back(keys[i % keys.size()]);
    my_values[i % n]->push_back(values[(i + offset) % values.size()]);
  }
  caf::scoped_actor self{sys};
  auto started = clock_type::now();
  for (size_t j = 0; j < n; ++j)
    sys.spawn(drive_puts, stores[j], my_keys[j], my_values[j],
              my_keys[j]->size(), window, caf::actor{self});
  size_t failed = 0;
  for (size_t j = 0; j < n; ++j)
    self->receive([&](size_t f) { failed += f; });
  std::chrono::duration<double> took = clock_type::now() - started;
  if (failed > 0) {
    std::fprintf(stderr, "%zu puts failed\n", failed);
    std::exit(1);
  }
  return took.count();
}

/// Seconds until the pending query of every store in `stores` answers what
/// the data holds (a scan through the first), following the cursors; exits
/// when they still disagree after 30 s.
double seconds_to_agree(caf::actor_system& sys,
                        const std::vector<state_actor>& stores) {
  auto truth = pending_by_scan(sys, stores.front());
  auto started = clock_type::now();
  while (true) {
    bool agree = true;
    for (auto& store : stores)
      agree = agree && pending_by_query(sys, store) == truth;
    std::chrono::duration<double> took = clock_type::now() - started;
    if (agree)
      return took.count();
    if (took.count() > 30) {
      std::fprintf(stderr, "the instances' queries still disagree with the "
                           "data after 30 s\n");
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

/// On an embedded engine, folds what `store` holds and waits until its
/// metrics report nothing unfolded: the stores of a round share the two
/// cores and the disk, and a fold of one phase running into the next would
/// time the next against it (the store written just before it, whichever
/// that is). At most 120 s.
void settle_folds(caf::actor_system& sys, const store_handles& store) {
  if (!on_embedded())
    return;
  caf::scoped_actor self{sys};
  auto deadline = clock_type::now() + std::chrono::seconds{120};
  const std::string metric = "\nsolver_state_unfolded_bytes{";
  while (clock_type::now() < deadline) {
    for (auto& shard : store.shards)
      caf::anon_send(shard, checkpoint_atom_v);
    std::this_thread::sleep_for(std::chrono::milliseconds{200});
    std::string text;
    self->request(store.metrics, std::chrono::seconds{10}, render_atom_v)
      .receive([&](std::string& t) { text = std::move(t); },
               [](caf::error&) {});
    auto at = text.find(metric);
    if (at == std::string::npos)
      return; // the engine keeps no log to fold (rocksdb)
    auto value = text.find("} ", at);
    if (value != std::string::npos
        && std::strtoull(text.c_str() + value + 2, nullptr, 10) == 0)
      return;
  }
  std::fprintf(stderr, "query-bench: a store still had unfolded writes "
                       "after 120 s\n");
}

/// Stops a store and waits until its shards are gone, so that freeing its
/// memory does not slow the next measurement.
void stop_and_wait(caf::actor_system& sys, store_handles& store) {
  stop_store(store);
  caf::scoped_actor self{sys};
  for (auto& shard : store.shards)
    self->wait_for(shard);
  self->wait_for(store.router, store.hub);
}

/// Deletes what an earlier round left in a shared engine: each
/// round's first writes are new keys.
void clear_orders(caf::actor_system& sys, const state_actor& store) {
  caf::scoped_actor self{sys};
  self->request(store, std::chrono::minutes{5}, delete_atom_v,
                delete_prefix_request{prefix, 0})
    .receive([](const delete_prefix_result&) {},
             [](const caf::error& err) {
               std::fprintf(stderr, "clearing the orders: %s\n",
                            message_of(err).c_str());
               std::exit(1);
             });
}

double seconds_of(const std::function<void()>& run) {
  auto started = clock_type::now();
  run();
  std::chrono::duration<double> took = clock_type::now() - started;
  return took.count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// (d): ns per value to read `paths` from each of `values`, best of 5
/// passes, by extract_fields and by a Boost.JSON DOM.
std::pair<double, double> field_reading_ns(const std::vector<std::string>& values,
                                           const std::vector<std::string_view>& paths) {
  size_t seen = 0;
  auto best_of = [&](const std::function<void(const std::string&)>& read) {
    double best = 1e30;
    for (int pass = 0; pass < 5; ++pass)
      best = std::min(best, seconds_of([&] {
                        for (auto& v : values)
                          read(v);
                      }));
    return best * 1e9 / values.size();
  };
  std::vector<std::optional<index_value>> fields;
  auto ours = best_of([&](const std::string& v) {
    extract_fields(v, paths, fields);
    seen += fields[0].has_value() + fields[1].has_value();
  });
  // The reading before simdjson, whole: the same fields out.
  auto dom = best_of([&](const std::string& v) {
    fields.assign(paths.size(), std::nullopt);
    unsigned char buffer[4096];
    boost::json::monotonic_resource mr{buffer, sizeof buffer};
    boost::json::error_code ec;
    auto doc = boost::json::parse(v, ec, &mr);
    for (size_t i = 0; i < paths.size() && !ec; ++i)
      if (auto* f = doc.find_pointer({paths[i].data(), paths[i].size()}, ec)) {
        if (f->is_string())
          fields[i] = index_value::of(std::string{f->get_string()});
        else if (f->is_int64())
          fields[i] = index_value::of(static_cast<long double>(f->get_int64()));
        ++seen;
      }
  });
  if (seen != 2 * 2 * 5 * values.size())
    std::fprintf(stderr, "(d): fields missing (%zu)\n", seen);
  return {ours, dom};
}

} // namespace

int main(int argc, char** argv) {
  size_t orders = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  size_t writes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 200'000;
  size_t rounds = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 3;
  size_t window = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 128;
  if (argc > 5)
    engine_url = argv[5];
  size_t instances = argc > 6 ? std::strtoull(argv[6], nullptr, 10) : 1;
  if (orders == 0 || writes == 0 || rounds == 0 || window == 0
      || instances == 0 || (instances > 1 && engine_url.empty())) {
    std::fprintf(stderr, "usage: query-bench [orders] [writes] [rounds] "
                         "[window] [redis:// or postgresql:// URL, or "
                         "postgresql] [instances]: counts of at least 1, "
                         "several instances only on an engine\n");
    return 2;
  }
#ifdef QUERY_BENCH_STARTS_POSTGRES
  std::unique_ptr<testing::postgres_server> postgres;
  if (engine_url == "postgresql") {
    postgres = std::make_unique<testing::postgres_server>();
    engine_url = postgres->url();
  }
#endif
  if (!engine_url.empty() && !on_postgres() && !on_embedded()
      && engine_url.rfind("redis", 0) != 0) {
    std::fprintf(stderr, "query-bench: '%s' is neither a redis:// nor a "
                         "postgresql:// URL, nor file or rocksdb "
                         "(`postgresql` alone needs the tests built)\n",
                 engine_url.c_str());
    return 2;
  }
  if (on_embedded() && instances > 1) {
    std::fprintf(stderr, "query-bench: one instance only on an embedded "
                         "engine (it locks its directory)\n");
    return 2;
  }
  struct remove_at_exit {
    ~remove_at_exit() {
      if (!embedded_base.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(embedded_base, ec);
      }
    }
  } removes_embedded_base;
  if (on_embedded())
    embedded_base = std::filesystem::temp_directory_path()
                    / ("query-bench-" + std::to_string(::getpid()));
  caf::actor_system_config cfg;
  register_message_types(cfg);
  // Idle workers wait as the service's do (app/main.cpp): no 50 us polling
  // phase, a look for work every millisecond. With CAF's defaults a lone
  // request waits up to 10 ms for a sleeping worker, and (a) would time
  // the sleeps rather than the work.
  cfg.set("work-stealing.moderate-poll-attempts", size_t{1});
  cfg.set("work-stealing.relaxed-sleep-duration",
          caf::timespan{std::chrono::milliseconds{1}});
  caf::actor_system sys{cfg};
  std::mt19937_64 rng{7};

  auto keys = std::make_shared<std::vector<std::string>>();
  auto values = std::make_shared<std::vector<std::string>>();
  // (b) writes `writes` distinct keys, however few orders (a) loads: with
  // fewer keys than writes it would overwrite the same few again and again
  // (its "new orders" would be updates, every structure in the caches).
  // The first `orders` are (a)'s, the same whatever `writes` is.
  auto generated = std::max(orders, writes);
  keys->reserve(generated);
  values->reserve(generated);
  for (size_t i = 0; i < generated; ++i) {
    keys->push_back(order_key(i));
    values->push_back(bench::order_value(i, rng));
  }

  // (c) the indexes' memory.
  if (engine_url.empty()) {
    // Held bytes as the allocator counts them (jemalloc or glibc).
    auto held = [] {
      auto usage = allocator_usage_now();
      return usage ? usage->allocated : size_t{0};
    };
    auto before = held();
    auto set = std::make_unique<index_set>(store_config(true).indexes);
    auto took = seconds_of([&] {
      for (size_t i = 0; i < orders; ++i)
        set->put((*keys)[i], i + 1, (*values)[i], 0);
    });
    auto after = held();
    // Then every order again with another order's value (another deadline,
    // now and then another status): what (b)'s updates add to a write, on
    // one thread, with every index too large for the caches.
    auto updated = seconds_of([&] {
      for (size_t i = 0; i < orders; ++i)
        set->put((*keys)[i], orders + i + 1, (*values)[(i + 50'021) % orders],
                 0);
    });
    std::printf("indexes of %zu orders (status, deadline): %.1f MB, %.0f "
                "bytes a key (keys of %zu bytes); %.2f us a put, %.2f us "
                "an update (one thread)\n",
                set->keys(), (after - before) / 1e6,
                double(after - before) / orders, (*keys)[0].size(),
                took * 1e6 / orders, updated * 1e6 / orders);
  }

  // (d) reading the indexed fields.
  if (engine_url.empty()) {
    std::mt19937_64 rng{7};
    std::vector<std::string> eip(20'000);
    for (auto& v : eip)
      v = testing::eip7683_order(rng);
    std::vector<std::string> small(values->begin(),
                                   values->begin() + std::min<size_t>(orders, 20'000));
    auto [small_ours, small_dom] = field_reading_ns(small, {"/status", "/deadline"});
    auto [eip_ours, eip_dom] = field_reading_ns(eip, {"/status", "/fillDeadline"});
    std::printf("reading two indexed fields: orders of %zu bytes %.0f ns vs %.0f ns "
                "(Boost.JSON DOM), %.1fx; EIP-7683 orders of %zu bytes %.0f ns vs "
                "%.0f ns, %.1fx\n",
                small[0].size(), small_ours, small_dom, small_dom / small_ours,
                eip[0].size(), eip_ours, eip_dom, eip_dom / eip_ours);
  }

  // (a) the pending orders, soonest first: on the memory backend, or on a
  // network engine (Redis, PostgreSQL), where a restart's build of the
  // indexes from the values is timed too.
  if (engine_url.empty() || on_network_engine()) {
    auto started = start_store(sys, store_config(true), compiled_plugins());
    if (!started) {
      std::fprintf(stderr, "%s\n", message_of(started.error()).c_str());
      return 1;
    }
    if (on_network_engine())
      clear_orders(sys, started->router);
    auto load =
      put_split(sys, {started->router}, *keys, *values, orders, window, 0);
    std::printf("loaded %zu orders (1%% pending) in %.1f s\n", orders, load);
    std::vector<double> by_query, by_scan;
    std::vector<std::string> a, b;
    for (size_t r = 0; r < rounds; ++r) {
      by_scan.push_back(
        seconds_of([&] { b = pending_by_scan(sys, started->router); }));
      by_query.push_back(
        seconds_of([&] { a = pending_by_query(sys, started->router); }));
    }
    if (a != b || a.size() != (orders + 99) / 100) {
      std::fprintf(stderr, "the two ways disagree: %zu vs %zu keys\n",
                   a.size(), b.size());
      return 1;
    }
    auto q = median(by_query), s = median(by_scan);
    std::printf("pending orders by deadline (%zu of %zu, median of %zu):\n"
                "  indexed query, 100 a page:       %8.3f s\n"
                "  list + batch-get + parse + sort: %8.3f s\n"
                "  query is %.1fx faster (target >= 50x)\n",
                a.size(), orders, rounds, q, s, s / q);
    if (on_network_engine()) {
      // Another instance on the same data builds its indexes from the values.
      std::vector<double> builds;
      for (size_t r = 0; r < rounds; ++r) {
        double took = 0;
        auto other = start_store(sys, store_config(true), compiled_plugins());
        if (!other)
          return 1;
        took = seconds_until_queries_answer(sys, other->router);
        if (pending_by_query(sys, other->router) != a) {
          std::fprintf(stderr, "the rebuilt indexes disagree\n");
          return 1;
        }
        stop_and_wait(sys, *other);
        builds.push_back(took);
      }
      std::printf("  a start's build of the indexes from the %zu values, "
                  "to the first query answered: %.3f s (median of %zu)\n",
                  orders, median(builds), rounds);
    }
    stop_and_wait(sys, *started);
  }

  // (b) writes with two indexes against none. Each round starts a fresh
  // pair of stores (on an engine, `instances` of each on the same data), writes
  // `writes` new orders to each (the inserts), then the same keys again
  // with other values (another deadline, now and then another status:
  // every write moves index entries); the store that goes first alternates
  // between rounds. Medians over the rounds.
  {
    std::vector<double> new_with, new_without, upd_with, upd_without, agree;
    for (size_t r = 0; r < rounds; ++r) {
      std::vector<store_handles> with, without;
      std::vector<state_actor> with_routers, without_routers;
      for (size_t j = 0; j < instances; ++j) {
        auto w = start_store(sys, store_config(true), compiled_plugins());
        auto n = start_store(sys, store_config(false), compiled_plugins());
        if (!w || !n)
          return 1;
        with_routers.push_back(w->router);
        without_routers.push_back(n->router);
        with.push_back(std::move(*w));
        without.push_back(std::move(*n));
      }
      clear_orders(sys, with_routers.front());
      clear_orders(sys, without_routers.front());
      auto rate = [&](const std::vector<state_actor>& stores, size_t offset) {
        auto r = writes / put_split(sys, stores, *keys, *values, writes, window,
                                    offset);
        for (auto& store : with)
          settle_folds(sys, store);
        for (auto& store : without)
          settle_folds(sys, store);
        return r;
      };
      for (size_t phase = 0; phase < 2; ++phase) {
        auto offset = phase * 50'021;
        auto& w = phase == 0 ? new_with : upd_with;
        auto& n = phase == 0 ? new_without : upd_without;
        if (r % 2 == 0) {
          n.push_back(rate(without_routers, offset));
          w.push_back(rate(with_routers, offset));
        } else {
          w.push_back(rate(with_routers, offset));
          n.push_back(rate(without_routers, offset));
        }
        if (instances > 1)
          agree.push_back(seconds_to_agree(sys, with_routers));
      }
      for (auto& store : with)
        stop_and_wait(sys, store);
      for (auto& store : without)
        stop_and_wait(sys, store);
    }
    auto nw = median(new_with), nn = median(new_without);
    auto uw = median(upd_with), un = median(upd_without);
    std::printf("single-key order writes (%zu a round through %zu "
                "instance(s), window %zu each, median of %zu rounds; target "
                ">= 0.75):\n"
                "  new orders:     no index %9.0f /s, status + deadline "
                "%9.0f /s, ratio %.2f\n"
                "  order updates:  no index %9.0f /s, status + deadline "
                "%9.0f /s, ratio %.2f\n",
                writes, instances, window, rounds, nn, nw, nw / nn, un, uw,
                uw / un);
    if (!agree.empty()) {
      std::sort(agree.begin(), agree.end());
      std::printf("  every instance's pending query agreed with the data "
                  "%.3f-%.3f s after the last write was answered\n",
                  agree.front(), agree.back());
    }
  }
  return 0;
}
