// Issue 2's benchmark, one run, same machine, ratios against baselines:
//  (a) single-key set and get through router + shard with a bounded window of
//      outstanding requests, against a bare CAF actor around a
//      std::unordered_map serving the same messages with the same window;
//  (b) batch_get of 100 keys per message (a window of batches in flight)
//      against a single-threaded std::unordered_map lookup loop that copies
//      the same entries out.
//  (c) the memory backend's store alone on one thread (no actors): N new
//      keys, then random gets and random overwrites, ns per operation,
//      against a std::unordered_map<std::string, std::string> doing the same.
// Usage: store-bench [ops=400000] [keys=100000] [window=128]
//                    [keys for (c)=1000000]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/memory/store.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"

using namespace solver_state;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr size_t value_bytes = 256;

/// The baseline: one actor owning a std::unordered_map, answering the same
/// get/put messages the store does.
using bare_actor = caf::typed_actor<
  caf::replies_to<get_atom, std::string>::with<entry>,
  caf::replies_to<put_atom, set_request>::with<write_result>,
  caf::replies_to<batch_get_atom, batch_request>::with<batch_reply>>;

struct bare_state {
  std::unordered_map<std::string, entry> map;
  version_t last = 0;
};

bare_actor::behavior_type
bare_map(bare_actor::stateful_pointer<bare_state> self) {
  return {
    [=](get_atom, const std::string& key) -> caf::result<entry> {
      auto it = self->state.map.find(key);
      if (it == self->state.map.end())
        return make_state_error(state_errc::not_found, "no value");
      return it->second;
    },
    [=](put_atom, set_request& req) -> caf::result<write_result> {
      auto [it, created] = self->state.map.try_emplace(std::move(req.key));
      auto& e = it->second;
      e.value = std::move(req.value);
      e.version = ++self->state.last;
      return write_result{e.version, created};
    },
    [=](batch_get_atom, const batch_request& req) -> caf::result<batch_reply> {
      batch_reply out;
      out.entries.resize(req.keys.size());
      for (size_t i = 0; i < req.keys.size(); ++i) {
        auto it = self->state.map.find(req.keys[i]);
        if (it != self->state.map.end())
          out.entries[i] = it->second;
      }
      return out;
    },
  };
}

std::vector<std::string> make_keys(size_t n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i)
    keys.push_back("order:eip7683:0x" + std::to_string(1000000 + i));
  return keys;
}

enum class mode { put, get, batch };

/// Keeps `window` requests in flight until `total` have been answered, then
/// reports to `done`. Each reply sends the next request: a bounded window.
template <class Handle>
void drive(caf::event_based_actor* self, Handle target,
           const std::vector<std::string>* keys, mode m, size_t total,
           size_t window, caf::actor done) {
  struct progress {
    size_t sent = 0;
    size_t answered = 0;
    size_t failed = 0;
    std::mt19937_64 rng{42};
  };
  auto p = std::make_shared<progress>();
  auto value = std::make_shared<std::string>(value_bytes, 'v');
  auto send_one = std::make_shared<std::function<void()>>();
  *send_one = [=] {
    if (p->sent == total)
      return;
    ++p->sent;
    auto on_reply = [=](auto&&...) {
      if (++p->answered == total)
        self->send(done, p->failed);
      else
        (*send_one)();
    };
    auto on_error = [=](caf::error&) {
      ++p->failed;
      if (++p->answered == total)
        self->send(done, p->failed);
      else
        (*send_one)();
    };
    switch (m) {
      case mode::put: {
        auto& key = (*keys)[p->rng() % keys->size()];
        self->request(target, caf::infinite, put_atom_v,
                      set_request{key, *value, 0, {}})
          .then([=](const write_result&) { on_reply(); }, on_error);
        break;
      }
      case mode::get: {
        auto& key = (*keys)[p->rng() % keys->size()];
        self->request(target, caf::infinite, get_atom_v, key)
          .then([=](entry&) { on_reply(); }, on_error);
        break;
      }
      case mode::batch: {
        // 100 distinct keys (a batch may name a key once) from a random
        // place in the key list.
        batch_request req;
        req.keys.reserve(100);
        auto first = p->rng() % keys->size();
        for (size_t i = 0; i < 100; ++i)
          req.keys.push_back((*keys)[(first + i) % keys->size()]);
        self->request(target, caf::infinite, batch_get_atom_v, std::move(req))
          .then([=](batch_reply&) { on_reply(); }, on_error);
        break;
      }
    }
  };
  for (size_t i = 0; i < window; ++i)
    (*send_one)();
}

/// Messages per second for `total` requests of `m` against `target`.
template <class Handle>
double measure(caf::actor_system& sys, Handle target,
               const std::vector<std::string>& keys, mode m, size_t total,
               size_t window) {
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  sys.spawn(drive<Handle>, target, &keys, m, total, window,
            caf::actor{self});
  size_t failed = 0;
  self->receive([&](size_t f) { failed = f; });
  std::chrono::duration<double> secs = clock_type::now() - start;
  if (failed > 0)
    std::fprintf(stderr, "warning: %zu requests failed\n", failed);
  return total / secs.count();
}

/// The raw baseline of (b): keys looked up and entries copied out, 100 at a
/// time, on one thread.
double raw_map_batches(const std::vector<std::string>& keys, size_t batches) {
  std::unordered_map<std::string, entry> map;
  for (size_t i = 0; i < keys.size(); ++i)
    map[keys[i]] = entry{std::string(value_bytes, 'v'), i + 1, 0};
  std::mt19937_64 rng{42};
  size_t found = 0;
  auto start = clock_type::now();
  for (size_t b = 0; b < batches; ++b) {
    std::vector<std::string> req;
    req.reserve(100);
    auto first = rng() % keys.size();
    for (size_t i = 0; i < 100; ++i)
      req.push_back(keys[(first + i) % keys.size()]);
    std::vector<entry> out(req.size());
    for (size_t i = 0; i < req.size(); ++i) {
      auto it = map.find(req[i]);
      if (it != map.end()) {
        out[i] = it->second;
        ++found;
      }
    }
  }
  std::chrono::duration<double> secs = clock_type::now() - start;
  if (found == 0)
    std::fprintf(stderr, "impossible\n");
  return batches * 100 / secs.count();
}

template <class Handle>
void preload(caf::actor_system& sys, Handle target,
             const std::vector<std::string>& keys) {
  caf::scoped_actor self{sys};
  sys.spawn(
    [&keys, target, done = caf::actor{self}](caf::event_based_actor* a) {
      auto left = std::make_shared<size_t>(keys.size());
      // Preload in windows of 128 to respect the project's own rule.
      auto next = std::make_shared<size_t>(0);
      auto step = std::make_shared<std::function<void()>>();
      *step = [=, &keys] {
        if (*next == keys.size())
          return;
        auto i = (*next)++;
        a->request(target, caf::infinite, put_atom_v,
                   set_request{keys[i], std::string(value_bytes, 'v'), 0, {}})
          .then([=](const write_result&) {
            if (--*left == 0)
              a->send(done, size_t{0});
            else
              (*step)();
          });
      };
      for (int w = 0; w < 128; ++w)
        (*step)();
    });
  self->receive([](size_t) {});
}

/// (c): ns per new key, get and overwrite of `keys`, through `set` and
/// `get` (callables over a key and a value).
struct alone_times {
  double put_ns, get_ns, update_ns;
};

template <class Set, class Get>
alone_times time_alone(const std::vector<std::string>& keys, size_t ops,
                       Set set, Get get) {
  using ns = std::chrono::duration<double, std::nano>;
  std::string value(value_bytes, 'v');
  std::mt19937_64 rng{3};
  std::vector<size_t> picks(ops);
  for (auto& p : picks)
    p = rng() % keys.size();
  auto t0 = clock_type::now();
  for (auto& k : keys)
    set(k, value);
  auto t1 = clock_type::now();
  size_t seen = 0;
  for (auto p : picks)
    seen += get(keys[p]);
  auto t2 = clock_type::now();
  for (auto p : picks)
    set(keys[p], value);
  auto t3 = clock_type::now();
  if (seen != ops * value_bytes)
    std::fprintf(stderr, "(c): a get missed\n");
  return {ns(t1 - t0).count() / keys.size(), ns(t2 - t1).count() / ops,
          ns(t3 - t2).count() / ops};
}

void run_alone(size_t nkeys, size_t ops) {
  auto keys = make_keys(nkeys);
  alone_times ours{1e30, 1e30, 1e30}, raw{1e30, 1e30, 1e30};
  auto best = [](alone_times& b, const alone_times& t) {
    b = {std::min(b.put_ns, t.put_ns), std::min(b.get_ns, t.get_ns),
         std::min(b.update_ns, t.update_ns)};
  };
  for (int round = 0; round < 3; ++round) {
    {
      memory_store store{std::make_shared<key_budget>(0),
                         eviction_policy::reject, 0};
      best(ours, time_alone(
                   keys, ops,
                   [&](const std::string& k, const std::string& v) {
                     set_request req;
                     req.key = k;
                     req.value = v;
                     store.set(std::move(req), 0, 1);
                   },
                   [&](const std::string& k) {
                     auto e = store.get(k, 1);
                     return e ? e->value.size() : 0;
                   }));
    }
    {
      std::unordered_map<std::string, std::string> map;
      best(raw, time_alone(
                  keys, ops,
                  [&](const std::string& k, const std::string& v) {
                    map[k] = v;
                  },
                  [&](const std::string& k) {
                    auto it = map.find(k);
                    return it == map.end() ? 0 : it->second.size();
                  }));
    }
  }
  std::printf("(c) the memory backend's store alone, one thread, %zu keys, "
              "best of 3: new %.0f / get %.0f / overwrite %.0f ns, against "
              "a std::unordered_map %.0f / %.0f / %.0f ns (ratio of rates "
              "%.2f / %.2f / %.2f)\n",
              nkeys, ours.put_ns, ours.get_ns, ours.update_ns, raw.put_ns,
              raw.get_ns, raw.update_ns, raw.put_ns / ours.put_ns,
              raw.get_ns / ours.get_ns, raw.update_ns / ours.update_ns);
}

} // namespace

int main(int argc, char** argv) {
  size_t ops = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 400000;
  size_t nkeys = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100000;
  size_t window = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 128;
  caf::actor_system_config cfg;
  register_message_types(cfg);
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};
  auto keys = make_keys(nkeys);

  state_config state;
  state.type = "memory";
  state.max_items = 0;
  auto store = start_store(sys, state, compiled_plugins());
  if (!store) {
    std::fprintf(stderr, "%s\n", message_of(store.error()).c_str());
    return 1;
  }
  auto bare = sys.spawn(bare_map);
  preload(sys, store->router, keys);
  preload(sys, bare, keys);

  std::printf("store-bench: %zu ops, %zu keys, %zu-byte values, window %zu, "
              "%u hardware threads, 2 CAF workers, %zu shards\n",
              ops, nkeys, value_bytes, window,
              std::thread::hardware_concurrency(), state.shards);
  std::printf("%-34s %14s %14s %8s\n", "operation", "solver-state/s",
              "baseline/s", "ratio");
  auto row = [](const char* name, double ours, double base) {
    std::printf("%-34s %14.0f %14.0f %8.2f\n", name, ours, base, ours / base);
  };
  for (int round = 0; round < 2; ++round) {
    // Interleave ours and the baseline so background load hits both alike.
    auto bare_set = measure(sys, bare, keys, mode::put, ops, window);
    auto ours_set = measure(sys, store->router, keys, mode::put, ops, window);
    auto bare_get = measure(sys, bare, keys, mode::get, ops, window);
    auto ours_get = measure(sys, store->router, keys, mode::get, ops, window);
    size_t batches = ops / 20;
    auto ours_batch = 100 * measure(sys, store->router, keys, mode::batch,
                                    batches, 16);
    auto raw_batch = raw_map_batches(keys, batches);
    if (round == 0)
      continue; // warm-up round
    row("(a) set, router+shard vs bare actor", ours_set, bare_set);
    row("(a) get, router+shard vs bare actor", ours_get, bare_get);
    row("(b) batch_get keys/s vs raw map loop", ours_batch, raw_batch);
  }
  stop_store(*store);
  caf::anon_send_exit(bare, caf::exit_reason::user_shutdown);
  run_alone(argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 1'000'000, ops);
  return 0;
}
