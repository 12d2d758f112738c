// Benchmark of the file backend (bench/file.sh runs it next to Redis).
//
//   file_bench write BASE_PATH always|interval|never [SECONDS] [WRITERS]
//     WRITERS (50) writer actors, each with one outstanding put of a 256-byte
//     value at a time, through the real store actors (start_store: router,
//     detached shards, ticker). Prints acknowledged writes per second and
//     the records per log fdatasync (how many writes one group commit
//     carries; the disk is the real one, the env only counts).
//   file_bench txn BASE_PATH [SECONDS] [WRITERS]
//     fsync: always, one store, three phases of SECONDS each in one run:
//     single-key puts, then transactions of 2 and of 10 keys (one order's
//     fill keys, one placement group), WRITERS actors with one outstanding
//     request each. Prints each phase's rate and the cost of a transaction
//     in single-key writes (single rate / transaction rate).
//   file_bench restart BASE_PATH KEYS
//     Writes KEYS keys of 256 bytes, folds them all into the tree, closes the
//     store, then times opening it again from the shards' key index, and
//     with the index files removed (recovery scans the tree and verifies
//     every value file), each warm and, when run as root, with the page
//     cache dropped first (cold). Prints the four times.
//   file_bench open BASE_PATH
//     Times one open of an existing base_path (for profiling a start).
//   file_bench fill-log BASE_PATH KEYS
//     Writes KEYS keys of 256 bytes and closes without folding: the next
//     open replays them all from the log, as after a heavy write load.
//   file_bench index-restart BASE_PATH ORDERS [SHARDS=1] [file|rocksdb] [aes]
//     Writes ORDERS orders of ~200 bytes of JSON (1% pending) and folds
//     them, then starts the store actors with two declared indexes (status,
//     deadline) and times each start until the first page of a query is
//     answered (not 503 "being built"): with the indexes built from the values, and
//     loaded from the snapshot the previous clean stop kept; each warm and,
//     as root, cold. Also times each stop (which writes the snapshot).
//     With `aes`, values are encrypted at rest (AES-256-GCM, a key made for
//     the run), and so is the snapshot.
//   file_bench key-index KEYS
//     The shard's key index (backends/file/recovery.hpp, a B-tree) against
//     std::map, which it replaced, in memory alone: KEYS keys of 22 bytes
//     loaded in order (as a start loads them), then KEYS/2 lookups of
//     random keys (a read or an overwrite) and KEYS/2 new keys inserted at
//     random places; the allocator's bytes a key; best of 3 rounds each,
//     alternating.
//   file_bench index-start BASE_PATH ORDERS SHARDS file|rocksdb ROUNDS
//     ROUNDS starts (and stops) over what index-restart left: each loads
//     the snapshot the stop before kept (for A/B runs of the loading).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/store.hpp"
#include "backends/codec/coded_store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/file/plugin.hpp"
#include "backends/file/store.hpp"
#include "backends/memory/plugin.hpp"
#include "backends/plugin.hpp"
#include "backends/shard_placement.hpp"
#include "bench/order_values.hpp"
#include "messages/keys.hpp"
#include "messages/protocol.hpp"
#include "util/allocator.hpp"

using namespace solver_state;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr size_t value_bytes = 256;
constexpr int keys_per_writer = 100;

std::atomic<uint64_t> acked{0};
std::atomic<uint64_t> failed{0};
std::atomic<bool> stopping{false};

/// The real filesystem, counting fdatasyncs (log commits; directory and
/// value-file syncs are full fsyncs or syncfs).
class counting_env : public file_env {
public:
  std::atomic<uint64_t> data_syncs{0};

  int sync(int fd, bool data_only) override {
    if (data_only)
      ++data_syncs;
    return file_env::sync(fd, data_only);
  }
};

/// The file plugin over a counting_env.
class counting_file_plugin final : public state_backend_plugin {
public:
  explicit counting_file_plugin(std::shared_ptr<counting_env> env)
    : env_(std::move(env)) {}
  std::string_view name() const override { return "file"; }
  bool blocking() const override { return true; }
  caf::expected<store_list> create_stores(const state_config& cfg) override {
    return open_file_stores(cfg, env_);
  }

private:
  std::shared_ptr<counting_env> env_;
};

void writer(caf::event_based_actor* self, state_actor store, int id) {
  auto n = std::make_shared<uint64_t>(0);
  auto step = std::make_shared<std::function<void()>>();
  *step = [=] {
    if (stopping) {
      self->quit();
      return;
    }
    auto key = "bench:w" + std::to_string(id) + ":"
               + std::to_string((*n)++ % keys_per_writer);
    set_request req{std::move(key), std::string(value_bytes, 'v'), 0,
                    condition::always()};
    self->request(store, std::chrono::seconds{30}, put_atom_v, std::move(req))
      .then(
        [=](const write_result&) {
          ++acked;
          (*step)();
        },
        [=](caf::error&) {
          ++failed;
          (*step)();
        });
  };
  (*step)();
}

/// The phase transaction writers belong to; they stop when it changes.
std::atomic<int> current_phase{0};

/// Commits transactions of `keys` puts (fill keys of one of 100 orders of
/// its own) one at a time until the phase changes.
void transaction_writer(caf::event_based_actor* self, state_actor store,
                        int id, int keys, int phase) {
  auto n = std::make_shared<uint64_t>(0);
  auto step = std::make_shared<std::function<void()>>();
  *step = [=] {
    if (current_phase != phase) {
      self->quit();
      return;
    }
    auto order = "p" + std::to_string(phase) + "w" + std::to_string(id) + "o"
                 + std::to_string((*n)++ % keys_per_writer);
    transaction_request req;
    for (int i = 0; i < keys; ++i)
      req.ops.push_back(txn_op::put("fill:{" + order + "}:" + std::to_string(i),
                                    std::string(value_bytes, 't')));
    self->request(store, std::chrono::seconds{30}, transact_atom_v,
                  std::move(req))
      .then(
        [=](const transaction_reply&) {
          ++acked;
          (*step)();
        },
        [=](caf::error&) {
          ++failed;
          (*step)();
        });
  };
  (*step)();
}

fsync_policy policy_of(const std::string& text) {
  return text == "always"     ? fsync_policy::always
         : text == "interval" ? fsync_policy::interval
                              : fsync_policy::never;
}

int run_writes(const std::string& base, const std::string& mode,
               double seconds, int writers) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config state;
  state.type = mode == "memory" ? "memory" : "file";
  state.max_items = 0;
  if (auto shards = std::getenv("SHARDS"))
    state.shards = std::stoul(shards);
  state.file.base_path = base;
  state.file.fsync = policy_of(mode);
  // interval: the log is synced every second, like everysec. always: the
  // default checkpoint interval (30 s), what a service gets; folding every
  // second would rewrite the 5,000 value files each second (a cost Redis's
  // benchmark does not pay either: no AOF rewrite in a short run).
  if (state.file.fsync == fsync_policy::interval)
    state.file.sync_interval = std::chrono::seconds{1};
  auto env = std::make_shared<counting_env>();
  plugin_registry plugins;
  plugins.add(make_memory_plugin());
  plugins.add(std::make_unique<counting_file_plugin>(env));
  auto store = start_store(sys, state, plugins);
  if (!store) {
    std::fprintf(stderr, "cannot start: %s\n",
                 message_of(store.error()).c_str());
    return 1;
  }
  for (int i = 0; i < writers; ++i)
    sys.spawn(writer, store->router, i);
  std::this_thread::sleep_for(std::chrono::seconds{1}); // warm-up
  auto start_count = acked.load();
  auto start_syncs = env->data_syncs.load();
  auto started = clock_type::now();
  std::this_thread::sleep_for(std::chrono::duration<double>{seconds});
  auto count = acked.load() - start_count;
  auto syncs = env->data_syncs.load() - start_syncs;
  std::chrono::duration<double> took = clock_type::now() - started;
  stopping = true;
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  stop_store(*store);
  std::printf("%s fsync=%s writers=%d value=%zuB: %.0f writes/s (%llu in "
              "%.2f s, %llu failed; %.1f records per fdatasync)\n",
              state.type.c_str(), mode.c_str(), writers, value_bytes,
              count / took.count(),
              static_cast<unsigned long long>(count), took.count(),
              static_cast<unsigned long long>(failed.load()),
              syncs ? static_cast<double>(count) / syncs : 0.0);
  return 0;
}

/// Acknowledged requests per second of one phase: `spawn_one(i)` starts
/// writer i; they run for `seconds` after a second of warm-up.
double measure_phase(int writers, double seconds,
                     const std::function<void(int)>& spawn_one) {
  for (int i = 0; i < writers; ++i)
    spawn_one(i);
  std::this_thread::sleep_for(std::chrono::seconds{1}); // warm-up
  auto start_count = acked.load();
  auto started = clock_type::now();
  std::this_thread::sleep_for(std::chrono::duration<double>{seconds});
  auto count = acked.load() - start_count;
  std::chrono::duration<double> took = clock_type::now() - started;
  ++current_phase;
  stopping = true;
  // Let the last requests finish before the next phase counts.
  std::this_thread::sleep_for(std::chrono::milliseconds{500});
  return count / took.count();
}

int run_transactions(const std::string& base, double seconds, int writers) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config state;
  state.type = "file";
  state.max_items = 0;
  if (auto shards = std::getenv("SHARDS"))
    state.shards = std::stoul(shards);
  state.file.base_path = base;
  state.file.fsync = fsync_policy::always;
  auto store = start_store(sys, state, plugin_registry::builtin());
  if (!store) {
    std::fprintf(stderr, "cannot start: %s\n",
                 message_of(store.error()).c_str());
    return 1;
  }
  auto router = store->router;
  auto single = measure_phase(writers, seconds, [&](int i) {
    sys.spawn(writer, router, i);
  });
  double rates[2] = {0, 0};
  int sizes[2] = {2, 10};
  for (int p = 0; p < 2; ++p) {
    stopping = false;
    int phase = current_phase;
    rates[p] = measure_phase(writers, seconds, [&](int i) {
      sys.spawn(transaction_writer, router, i, sizes[p], phase);
    });
  }
  stop_store(*store);
  std::printf("file fsync=always writers=%d value=%zuB, %.0f s per phase "
              "(%llu failed):\n  single-key puts: %.0f/s\n",
              writers, value_bytes, seconds,
              static_cast<unsigned long long>(failed.load()), single);
  for (int p = 0; p < 2; ++p)
    std::printf("  %d-key transactions: %.0f/s (%.0f keys/s), one costs "
                "%.2fx a single-key write\n",
                sizes[p], rates[p], rates[p] * sizes[p], single / rates[p]);
  return failed.load() == 0 ? 0 : 1;
}

/// Writes keys "order:bench:0".. of value_bytes each, committing every
/// 1024; false when a write fails.
bool write_keys(store_list& stores, size_t keys) {
  std::string value(value_bytes, 'r');
  for (size_t i = 0; i < keys; ++i) {
    auto key = "order:bench:" + std::to_string(i);
    auto& s = *stores[shard_index(key, stores.size())];
    if (!s.set(set_request{key, value, 0, condition::always()}, 0, 1))
      return false;
    if (i % 1024 == 0)
      for (auto& st : stores)
        st->commit();
  }
  return true;
}

/// Writes `keys` keys of 256 B and closes the store without a fold.
int run_fill_log(const std::string& base, size_t keys) {
  state_config cfg;
  cfg.type = "file";
  cfg.max_items = 0;
  cfg.file.base_path = base;
  cfg.file.fsync = fsync_policy::never;
  cfg.file.max_unfolded_bytes = size_t{1} << 40; // no fold while filling
  auto stores = open_file_stores(cfg, default_file_env());
  if (!stores)
    return 1;
  if (!write_keys(*stores, keys))
    return 1;
  for (auto& st : *stores)
    if (st->close())
      return 1;
  return 0;
}

/// Times one open of an existing base_path (as written by `restart`).
/// One round of `key-index` on a map of type Map.
struct key_map_round {
  double load_ms, bytes_a_key, lookup_ns, insert_ns;
};

template <class Map>
key_map_round time_key_map(const std::vector<std::string>& keys,
                           const std::vector<std::string>& probes) {
  auto held = [] {
    auto usage = allocator_usage_now();
    return usage ? usage->allocated : size_t{0};
  };
  using ns = std::chrono::duration<double, std::nano>;
  auto before = held();
  auto t0 = clock_type::now();
  Map map;
  for (auto& k : keys)
    map.emplace_hint(map.end(), k, key_meta{1, 0, value_bytes});
  auto t1 = clock_type::now();
  auto after = held();
  uint64_t found = 0;
  for (auto& p : probes)
    if (auto it = map.find(p); it != map.end()) {
      found += it->second.size;
      ++it->second.version;
    }
  auto t2 = clock_type::now();
  for (auto& p : probes)
    map.emplace(p + "+", key_meta{2, 0, value_bytes});
  auto t3 = clock_type::now();
  if (found != probes.size() * value_bytes || map.size() != keys.size() + probes.size())
    std::fprintf(stderr, "key-index: the map lost keys\n");
  return {ns(t1 - t0).count() / 1e6, double(after - before) / keys.size(),
          ns(t2 - t1).count() / probes.size(), ns(t3 - t2).count() / probes.size()};
}

int run_key_index(size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  char key[32];
  for (size_t i = 0; i < count; ++i) {
    std::snprintf(key, sizeof key, "order:bench:%010zu", i);
    keys.emplace_back(key);
  }
  // Half the keys, each once, in random order.
  std::vector<std::string> probes = keys;
  std::shuffle(probes.begin(), probes.end(), std::mt19937_64{1});
  probes.resize(count / 2);
  auto best = [](key_map_round& b, const key_map_round& r) {
    b = {std::min(b.load_ms, r.load_ms), r.bytes_a_key,
         std::min(b.lookup_ns, r.lookup_ns), std::min(b.insert_ns, r.insert_ns)};
  };
  key_map_round old_map{1e30, 0, 1e30, 1e30}, index{1e30, 0, 1e30, 1e30};
  for (int round = 0; round < 3; ++round) {
    best(old_map, time_key_map<std::map<std::string, key_meta>>(keys, probes));
    best(index, time_key_map<key_index>(keys, probes));
  }
  std::printf("key index of %zu keys of %zu bytes, best of 3 rounds:\n"
              "  %-10s load %7.1f ms, %5.1f bytes a key, lookup %6.0f ns, "
              "insert %6.0f ns\n"
              "  %-10s load %7.1f ms, %5.1f bytes a key, lookup %6.0f ns, "
              "insert %6.0f ns\n"
              "  B-tree / std::map: load %.2f, bytes %.2f, lookup %.2f, "
              "insert %.2f\n",
              count, keys[0].size(), "std::map", old_map.load_ms,
              old_map.bytes_a_key, old_map.lookup_ns, old_map.insert_ns,
              "B-tree", index.load_ms, index.bytes_a_key, index.lookup_ns,
              index.insert_ns, index.load_ms / old_map.load_ms,
              index.bytes_a_key / old_map.bytes_a_key,
              index.lookup_ns / old_map.lookup_ns,
              index.insert_ns / old_map.insert_ns);
  return 0;
}

int run_open(const std::string& base) {
  state_config cfg;
  cfg.type = "file";
  cfg.max_items = 0;
  cfg.file.base_path = base;
  auto started = clock_type::now();
  auto stores = open_file_stores(cfg, default_file_env());
  std::chrono::duration<double> took = clock_type::now() - started;
  if (!stores) {
    std::fprintf(stderr, "cannot open: %s\n",
                 message_of(stores.error()).c_str());
    return 1;
  }
  uint64_t loaded = 0;
  for (auto& st : *stores)
    loaded += st->stats().keys;
  std::printf("file open: %llu keys in %.2f s\n",
              static_cast<unsigned long long>(loaded), took.count());
  return 0;
}

int run_restart(const std::string& base, size_t keys) {
  state_config cfg;
  cfg.type = "file";
  cfg.max_items = 0;
  cfg.file.base_path = base;
  cfg.file.fsync = fsync_policy::never;
  auto fill_started = clock_type::now();
  {
    auto stores = open_file_stores(cfg, default_file_env());
    if (!stores) {
      std::fprintf(stderr, "cannot open: %s\n",
                   message_of(stores.error()).c_str());
      return 1;
    }
    if (!write_keys(*stores, keys))
      return 1;
    // Everything into the key tree: the restart measured is a load of the
    // tree (a stop leaves the log for the next start, which it replays).
    for (auto& st : *stores) {
      auto err = st->checkpoint();
      if (auto* files = dynamic_cast<file_store*>(st.get()); files && !err)
        err = files->finish_fold();
      if (err) {
        std::fprintf(stderr, "checkpoint: %s\n", message_of(err).c_str());
        return 1;
      }
    }
    for (auto& st : *stores)
      if (auto err = st->close()) {
        std::fprintf(stderr, "close: %s\n", message_of(err).c_str());
        return 1;
      }
  }
  std::chrono::duration<double> fill = clock_type::now() - fill_started;
  std::printf("file restart: writing and folding %zu keys of %zu B took "
              "%.1f s\n",
              keys, value_bytes, fill.count());
  bool root = geteuid() == 0;
  struct mode {
    const char* name;
    bool index;
    bool cold;
  };
  // The scan rewrites the index: each scan run removes it first.
  for (auto m : {mode{"index, warm", true, false}, mode{"index, cold", true, true},
                 mode{"scan, cold", false, true}, mode{"scan, warm", false, false}}) {
    if (m.cold && !root) {
      std::printf("  %-12s skipped (not root: cannot drop the page cache)\n",
                  m.name);
      continue;
    }
    if (!m.index)
      for (auto& e : std::filesystem::directory_iterator(base))
        if (e.path().filename().string().rfind("~index-", 0) == 0)
          std::filesystem::remove(e.path());
    if (m.cold) {
      ::sync();
      std::ofstream{"/proc/sys/vm/drop_caches"} << "3\n";
    }
    auto started = clock_type::now();
    auto stores = open_file_stores(cfg, default_file_env());
    std::chrono::duration<double> took = clock_type::now() - started;
    if (!stores)
      return 1;
    uint64_t loaded = 0;
    for (auto& st : *stores)
      loaded += st->stats().keys;
    std::printf("  %-12s %llu keys opened in %.2f s (%.0f keys/s)\n", m.name,
                static_cast<unsigned long long>(loaded), took.count(),
                loaded / took.count());
    if (loaded != keys)
      return 1;
  }
  return 0;
}


/// The pending orders, every page; nullopt while the indexes are built.
std::optional<size_t> count_pending(caf::scoped_actor& self,
                                    const state_actor& store) {
  auto req = orders_with_status("bench", "status", "pending", "deadline", 100);
  size_t found = 0;
  while (true) {
    std::optional<query_page> page;
    bool building = false;
    self->request(store, std::chrono::seconds{60}, query_atom_v, req)
      .receive([&](query_page& p) { page = std::move(p); },
               [&](caf::error& err) {
                 building = code_of(err) == state_errc::backend_unavailable;
                 if (!building) {
                   std::fprintf(stderr, "query: %s\n",
                                message_of(err).c_str());
                   std::exit(1);
                 }
               });
    if (building)
      return std::nullopt;
    found += page->items.size();
    if (page->next_cursor.empty())
      return found;
    req.cursor = std::move(page->next_cursor);
  }
}

/// True once `req` is answered, false while the indexes are built.
bool answers(caf::scoped_actor& self, const state_actor& store,
             const query_request& req) {
  bool ok = false;
  self->request(store, std::chrono::seconds{60}, query_atom_v, req)
    .receive([&](query_page&) { ok = true; },
             [&](caf::error& err) {
               if (code_of(err) != state_errc::backend_unavailable) {
                 std::fprintf(stderr, "query: %s\n", message_of(err).c_str());
                 std::exit(1);
               }
             });
  return ok;
}

/// Starts the store actors, waits until a query is answered, stops them
/// (a clean stop: each shard keeps its indexes); the two times.
std::pair<double, double> start_query_stop(const state_config& cfg,
                                           size_t pending) {
  caf::actor_system_config caf_cfg;
  register_message_types(caf_cfg);
  caf::actor_system sys{caf_cfg};
  auto started = clock_type::now();
  auto store = start_store(sys, cfg, compiled_plugins());
  if (!store) {
    std::fprintf(stderr, "cannot start: %s\n",
                 message_of(store.error()).c_str());
    std::exit(1);
  }
  caf::scoped_actor self{sys};
  // Up once the first page is answered; then every page, untimed, to check.
  auto first = orders_with_status("bench", "status", "pending", "deadline", 1);
  while (!answers(self, store->router, first))
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  std::chrono::duration<double> up = clock_type::now() - started;
  auto found = count_pending(self, store->router);
  if (!found || *found != pending) {
    std::fprintf(stderr, "found %zu pending orders, wrote %zu\n",
                 found.value_or(0), pending);
    std::exit(1);
  }
  auto stopping_at = clock_type::now();
  stop_store(*store);
  while (store->status->shards_stopped < store->shards.size())
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  std::chrono::duration<double> down = clock_type::now() - stopping_at;
  return {up.count(), down.count()};
}

/// A fresh random key in a private file under `dir`, as the only key of
/// `cfg`'s encryption.
void encrypt_with_new_key(state_config& cfg, const std::string& dir) {
  std::random_device rd;
  std::string hex;
  for (int i = 0; i < 64; ++i)
    hex.push_back("0123456789abcdef"[rd() % 16]);
  auto file = dir + "/bench.key";
  {
    std::ofstream out{file, std::ios::trunc};
    out << hex << "\n";
  }
  std::filesystem::permissions(file, std::filesystem::perms::owner_read
                                       | std::filesystem::perms::owner_write);
  cfg.encryption.keys = {{"bench", file}};
  cfg.encryption.primary = "bench";
}

int run_index_restart(const std::string& base, size_t orders, size_t shards,
                      const std::string& type, bool encrypted) {
  state_config cfg;
  if (encrypted) {
    std::filesystem::create_directories(base + ".keys");
    encrypt_with_new_key(cfg, base + ".keys");
  }
  cfg.type = type;
  cfg.max_items = 0;
  cfg.shards = shards;
  cfg.file.base_path = base;
  cfg.file.fsync = fsync_policy::never;
  cfg.rocksdb.base_path = base;
  cfg.rocksdb.fsync = fsync_policy::never;
  auto fill_started = clock_type::now();
  {
    auto* plugin = compiled_plugins().find(type);
    if (!plugin) {
      std::fprintf(stderr, "no backend '%s' in this build\n", type.c_str());
      return 1;
    }
    auto stores = plugin->create_stores(cfg);
    if (!stores) {
      std::fprintf(stderr, "cannot open: %s\n",
                   message_of(stores.error()).c_str());
      return 1;
    }
    std::vector<file_store*> files_of;
    for (auto& st : *stores)
      files_of.push_back(dynamic_cast<file_store*>(st.get()));
    if (encrypted)
      if (auto err = wrap_in_codecs(*stores, cfg)) {
        std::fprintf(stderr, "encryption: %s\n", message_of(err).c_str());
        return 1;
      }
    std::mt19937_64 rng{42};
    for (size_t i = 0; i < orders; ++i) {
      auto key = "order:bench:0x" + std::to_string(10'000'000 + i);
      auto& s = *(*stores)[shard_index(key, stores->size())];
      set_request req{key, bench::order_value(i, rng), 0, condition::always()};
      if (!s.set(std::move(req), 0, 1))
        return 1;
      if (i % 1024 == 0)
        for (auto& st : *stores)
          st->commit();
    }
    for (size_t s = 0; s < stores->size(); ++s) {
      auto& st = (*stores)[s];
      // Every key into the tree (a checkpoint behind a fold still running
      // folds nothing new): the starts measured replay no log.
      auto err = st->checkpoint();
      auto* files = files_of[s];
      for (int i = 0; files && !err && i < 10; ++i) {
        err = files->finish_fold();
        if (err || files->unfolded() == 0)
          break;
        err = st->checkpoint();
      }
      if (!err)
        err = st->close();
      if (err) {
        std::fprintf(stderr, "fill: %s\n", message_of(err).c_str());
        return 1;
      }
    }
  }
  std::chrono::duration<double> fill = clock_type::now() - fill_started;
  std::printf("index restart (%s%s): %zu orders written and folded in "
              "%.1f s, %zu shards\n",
              type.c_str(), encrypted ? ", AES-256-GCM" : "", orders,
              fill.count(), shards);
  cfg.indexes = {{"status", "order:bench:", "/status"},
                 {"deadline", "order:bench:", "/deadline"}};
  auto pending = (orders + 99) / 100;
  bool root = geteuid() == 0;
  auto drop_snapshots = [&] {
    for (auto& e : std::filesystem::directory_iterator(base))
      if (auto name = e.path().filename().string();
          name.rfind("~query-", 0) == 0 || name.rfind("query-", 0) == 0)
        std::filesystem::remove(e.path());
  };
  struct mode {
    const char* name;
    bool snapshot;
    bool cold;
  };
  for (auto m : {mode{"values, warm", false, false},
                 mode{"snapshot, warm", true, false},
                 mode{"values, cold", false, true},
                 mode{"snapshot, cold", true, true}}) {
    if (m.cold && !root) {
      std::printf("  %-15s skipped (not root: cannot drop the page cache)\n",
                  m.name);
      continue;
    }
    if (!m.snapshot)
      drop_snapshots();
    if (m.cold) {
      ::sync();
      std::ofstream{"/proc/sys/vm/drop_caches"} << "3\n";
    }
    auto [up, down] = start_query_stop(cfg, pending);
    std::printf("  %-15s start to the first answered page %.2f s; stop "
                "%.2f s\n",
                m.name, up, down);
  }
  return 0;
}

/// Starts over an existing BASE_PATH of `index-restart` `rounds` times:
/// each start loads the snapshot the stop before kept.
int run_index_start(const std::string& base, size_t orders, size_t shards,
                    const std::string& type, int rounds) {
  state_config cfg;
  cfg.type = type;
  cfg.max_items = 0;
  cfg.shards = shards;
  cfg.file.base_path = base;
  cfg.rocksdb.base_path = base;
  cfg.indexes = {{"status", "order:bench:", "/status"},
                 {"deadline", "order:bench:", "/deadline"}};
  for (int i = 0; i < rounds; ++i) {
    auto [up, down] = start_query_stop(cfg, (orders + 99) / 100);
    std::printf("  start to the first answered page %.2f s; stop %.2f s\n",
                up, down);
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "write" && argc >= 4)
    return run_writes(argv[2], argv[3], argc > 4 ? std::stod(argv[4]) : 10.0,
                      argc > 5 ? std::stoi(argv[5]) : 50);
  if (cmd == "txn" && argc >= 3)
    return run_transactions(argv[2], argc > 3 ? std::stod(argv[3]) : 10.0,
                            argc > 4 ? std::stoi(argv[4]) : 50);
  if (cmd == "restart" && argc == 4)
    return run_restart(argv[2], std::stoul(argv[3]));
  if (cmd == "open" && argc == 3)
    return run_open(argv[2]);
  if (cmd == "key-index" && argc == 3)
    return run_key_index(std::stoul(argv[2]));
  if (cmd == "fill-log" && argc == 4)
    return run_fill_log(argv[2], std::stoul(argv[3]));
  if (cmd == "index-start" && argc == 7)
    return run_index_start(argv[2], std::stoul(argv[3]), std::stoul(argv[4]),
                           argv[5], std::stoi(argv[6]));
  if (cmd == "index-restart" && argc >= 4 && argc <= 7
      && (argc < 7 || std::string{argv[6]} == "aes"))
    return run_index_restart(argv[2], std::stoul(argv[3]),
                             argc >= 5 ? std::stoul(argv[4]) : 1,
                             argc >= 6 ? argv[5] : "file",
                             argc == 7 && std::string{argv[6]} == "aes");
  std::fprintf(stderr,
               "usage: %s write BASE_PATH always|interval|never [SECONDS] "
               "[WRITERS]\n       %s txn BASE_PATH [SECONDS] [WRITERS]\n"
               "       %s restart BASE_PATH KEYS\n"
               "       %s open BASE_PATH\n"
               "       %s fill-log BASE_PATH KEYS\n"
               "       %s key-index KEYS\n"
               "       %s index-restart BASE_PATH ORDERS [SHARDS] "
               "[file|rocksdb] [aes]\n"
               "       %s index-start BASE_PATH ORDERS SHARDS file|rocksdb "
               "ROUNDS\n",
               argv[0], argv[0], argv[0], argv[0], argv[0], argv[0], argv[0],
               argv[0]);
  return 2;
}
