// Issue 17's in-process benchmark: what compression and encryption at rest
// cost, one run, same machine, ratios against no codec measured alongside.
//  (a) the codec alone: ns to encode and to decode one value, and its
//      stored size;
//  (b) set and get through the store actors (memory backend, router and
//      shards, a window of outstanding requests), the path a CAF solver
//      takes; modes interleaved round by round, median of the rounds, with
//      the process CPU per request and its ratio to no codec (each round
//      starts with another mode);
//  (c) bytes on disk per value with the file backend (apparent file bytes
//      and allocated blocks, log folded into the tree).
// Values: 256 B and 4 KiB of random base64 text (little to compress), and a
// 1.5 KiB EIP-7683-style order as JSON. Modes: none, zstd, aes, zstd+aes,
// zdict and zdict+aes (zstd with a dictionary trained on other orders),
// zfast+aes (the same at zstd's fast level -5).
// Usage: codec-bench [ops=200000] [rounds=7] [window=128] [values] [modes]
//   values, modes: comma-separated names to run (all by default), e.g.
//   `codec-bench 200000 9 128 256B none,aes` for a long A/B of one target.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/store.hpp"
#include "backends/codec/coded_store.hpp"
#include "backends/codec/key_ring.hpp"
#include "backends/codec/value_codec.hpp"
#include "backends/codec/zstd_dictionaries.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/file/store.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"
#include "tests/support/eip7683_order.hpp"
#include "util/base64.hpp"

using namespace solver_state;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

struct value_kind {
  const char* name;
  std::string bytes;
};

std::string random_text(size_t n, std::mt19937_64& rng) {
  std::string raw(n, '\0');
  for (auto& c : raw)
    c = static_cast<char>(rng());
  return base64_encode(raw).substr(0, n);
}

struct mode {
  const char* name;
  bool zstd;
  bool aes;
  /// zstd with a dictionary trained on other orders (dictionary_file).
  bool dict = false;
  /// zstd's level (negative: its fast levels).
  int level = 1;
};

std::vector<mode> modes{{"none", false, false},
                              {"zstd", true, false},
                              {"aes", false, true},
                              {"zstd+aes", true, true},
                              {"zdict", true, false, true},
                              {"zdict+aes", true, true, true},
                              {"zfast+aes", true, true, true, -5}};

/// The dictionary of the zdict modes: trained in main() on 2,000 orders
/// other than the measured one.
std::string dictionary_file;

void train_dictionary(const std::string& file) {
  auto dict = testing::order_dictionary(1);
  if (dict.empty()) {
    std::fprintf(stderr, "cannot train a dictionary on the orders\n");
    std::exit(1);
  }
  auto* f = std::fopen(file.c_str(), "wb");
  std::fwrite(dict.data(), 1, dict.size(), f);
  std::fclose(f);
}

/// The state config of `m` (key file `key_file`).
state_config config_of(const mode& m, const std::string& key_file) {
  state_config cfg;
  cfg.type = "memory";
  cfg.max_items = 0;
  if (m.zstd) {
    cfg.compression.type = compression_type::zstd;
    cfg.compression.min_bytes = 512;
    cfg.compression.level = m.level;
  }
  if (m.dict)
    cfg.compression.dictionaries = {dictionary_file};
  if (m.aes) {
    cfg.encryption.keys = {{"k1", key_file}};
    cfg.encryption.primary = "k1";
  }
  return cfg;
}

value_codec codec_of(const state_config& cfg) {
  std::shared_ptr<const key_ring> ring;
  if (cfg.encryption.enabled())
    ring = *key_ring::load(cfg.encryption);
  return value_codec{cfg.compression, ring, cfg.max_value_bytes,
                     *zstd_dictionaries::load(cfg.compression)};
}

// -- (a) the codec alone ------------------------------------------------------------

/// ns per call of `f`, called for at least a quarter of a second: 20,000
/// calls (a few ms) read up to 1.7x the steady figure on this VM.
template <class F>
double ns_per_call(F&& f) {
  size_t n = 0;
  auto start = clock_type::now();
  std::chrono::duration<double, std::nano> spent{0};
  while (spent < std::chrono::milliseconds(250)) {
    for (int i = 0; i < 1'000; ++i)
      f();
    n += 1'000;
    spent = clock_type::now() - start;
  }
  return spent.count() / n;
}

void codec_alone(const std::vector<value_kind>& values,
                 const std::string& key_file) {
  std::printf("\n(a) the codec alone, ns per value (stored bytes)\n");
  std::printf("%-10s %-9s %10s %10s %10s\n", "value", "mode", "encode",
              "decode", "stored");
  for (auto& v : values)
    for (auto& m : modes) {
      auto codec = codec_of(config_of(m, key_file));
      std::string stored = *codec.encode("order:eip7683:0x1234", v.bytes);
      auto enc = ns_per_call([&] {
        stored = *codec.encode("order:eip7683:0x1234", v.bytes);
      });
      size_t check = 0, calls = 0;
      auto dec = ns_per_call([&] {
        check += codec.decode("order:eip7683:0x1234", stored)->size();
        ++calls;
      });
      if (check != calls * v.bytes.size())
        std::fprintf(stderr, "decode mismatch\n");
      std::printf("%-10s %-9s %10.0f %10.0f %10zu\n", v.name, m.name,
                  enc, dec, stored.size());
    }
}

// -- (b) through the store actors ---------------------------------------------------

/// Keeps `window` requests in flight until `total` are answered.
void drive(caf::event_based_actor* self, state_actor target,
           const std::vector<std::string>* keys, const std::string* value,
           bool put, size_t total, size_t window, caf::actor done) {
  struct progress {
    size_t sent = 0, answered = 0, failed = 0;
    std::mt19937_64 rng{7};
  };
  auto p = std::make_shared<progress>();
  auto send_one = std::make_shared<std::function<void()>>();
  *send_one = [=] {
    if (p->sent == total)
      return;
    ++p->sent;
    auto next = [=](bool ok) {
      p->failed += ok ? 0 : 1;
      if (++p->answered == total)
        self->send(done, p->failed);
      else
        (*send_one)();
    };
    auto& key = (*keys)[p->rng() % keys->size()];
    if (put)
      self->request(target, caf::infinite, put_atom_v,
                    set_request{key, *value, 0, {}})
        .then([=](const write_result&) { next(true); },
              [=](caf::error&) { next(false); });
    else
      self->request(target, caf::infinite, get_atom_v, key)
        .then([=](entry&) { next(true); }, [=](caf::error&) { next(false); });
  };
  for (size_t i = 0; i < window; ++i)
    (*send_one)();
}

struct measured {
  double per_second = 0;
  double cpu_us = 0; // process CPU (user + system) per request
};

double cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
         + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

measured rate(caf::actor_system& sys, state_actor target,
              const std::vector<std::string>& keys, const std::string& value,
              bool put, size_t total, size_t window) {
  caf::scoped_actor self{sys};
  auto cpu = cpu_seconds();
  auto start = clock_type::now();
  sys.spawn(drive, target, &keys, &value, put, total, window,
            caf::actor{self});
  size_t failed = 0;
  self->receive([&](size_t f) { failed = f; });
  std::chrono::duration<double> secs = clock_type::now() - start;
  if (failed)
    std::fprintf(stderr, "warning: %zu requests failed\n", failed);
  return {total / secs.count(), (cpu_seconds() - cpu) * 1e6 / total};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void through_actors(const std::vector<value_kind>& values,
                    const std::string& key_file, size_t ops, size_t rounds,
                    size_t window) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};
  std::vector<std::string> keys;
  for (size_t i = 0; i < 10'000; ++i)
    keys.push_back("order:eip7683:0x" + std::to_string(1'000'000 + i));
  std::printf("\n(b) through the store actors (memory backend, %zu ops per "
              "run, window %zu, median of %zu interleaved rounds)\n",
              ops, window, rounds);
  std::printf("%-10s %-9s %10s %7s %7s %10s %7s %7s\n", "value", "mode",
              "set/s", "cpu_us", "ratio", "get/s", "cpu_us", "ratio");
  for (auto& v : values) {
    std::vector<store_handles> stores;
    for (auto& m : modes) {
      auto store = start_store(sys, config_of(m, key_file), compiled_plugins());
      if (!store) {
        std::fprintf(stderr, "%s\n", message_of(store.error()).c_str());
        std::exit(1);
      }
      stores.push_back(*store);
      rate(sys, store->router, keys, v.bytes, true, keys.size() * 2, window);
    }
    std::vector<std::vector<double>> sets(modes.size()), gets(modes.size()),
      set_cpu(modes.size()), get_cpu(modes.size());
    // Each round starts one mode later: a mode's place in the round (the
    // first runs after another store's gets, with the caches cold for it)
    // moved its figures by up to 20%, more than the costs measured here.
    for (size_t r = 0; r < rounds; ++r)
      for (size_t j = 0; j < modes.size(); ++j) {
        auto i = (j + r) % modes.size();
        auto s = rate(sys, stores[i].router, keys, v.bytes, true, ops, window);
        auto g = rate(sys, stores[i].router, keys, v.bytes, false, ops, window);
        sets[i].push_back(s.per_second);
        set_cpu[i].push_back(s.cpu_us);
        gets[i].push_back(g.per_second);
        get_cpu[i].push_back(g.cpu_us);
      }
    // The ratio is of CPU per request (none / mode): on this CPU-bound
    // machine it is what throughput would be, without the scheduler's
    // run-to-run noise in the wall-clock rates. It is the median of each
    // round's ratio: a round's runs are seconds apart, the rounds a minute,
    // and the machine's speed drifts in between.
    auto ratio = [&](const std::vector<std::vector<double>>& cpu, size_t i) {
      std::vector<double> per_round;
      for (size_t r = 0; r < rounds; ++r)
        per_round.push_back(cpu[0][r] / cpu[i][r]);
      return median(per_round);
    };
    for (size_t i = 0; i < modes.size(); ++i)
      std::printf("%-10s %-9s %10.0f %7.2f %7.2f %10.0f %7.2f %7.2f\n",
                  v.name, modes[i].name, median(sets[i]), median(set_cpu[i]),
                  ratio(set_cpu, i), median(gets[i]), median(get_cpu[i]),
                  ratio(get_cpu, i));
    for (auto& s : stores)
      stop_store(s);
  }
}

// -- (c) bytes on disk ----------------------------------------------------------------

struct disk_use {
  uint64_t apparent = 0;
  uint64_t allocated = 0;
};

disk_use disk_of(const std::string& dir) {
  disk_use out;
  for (auto& f : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (!f.is_regular_file() || ::stat(f.path().c_str(), &st) != 0)
      continue;
    // Only the value files of the tree: the log and the lock are fixed
    // costs that do not grow per value.
    if (f.path().filename().string().rfind('~', 0) == 0)
      continue;
    out.apparent += static_cast<uint64_t>(st.st_size);
    out.allocated += static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return out;
}

void bytes_on_disk(const std::vector<value_kind>& values,
                   const std::string& key_file, const std::string& work) {
  const int n = 2'000;
  std::printf("\n(c) the file backend: bytes per value in its value files "
              "(%d values, folded)\n",
              n);
  std::printf("%-10s %-9s %10s %10s %10s\n", "value", "mode", "value",
              "apparent", "allocated");
  for (auto& v : values)
    for (auto& m : modes) {
      auto cfg = config_of(m, key_file);
      cfg.type = "file";
      cfg.shards = 1;
      cfg.file.fsync = fsync_policy::never;
      cfg.file.base_path = work + "/disk-" + v.name + "-" + m.name;
      auto stores = compiled_plugins().find("file")->create_stores(cfg);
      if (!stores || wrap_in_codecs(*stores, cfg)) {
        std::fprintf(stderr, "cannot open %s\n", cfg.file.base_path.c_str());
        std::exit(1);
      }
      auto& store = *stores->front();
      for (int i = 0; i < n; ++i)
        store.set(set_request{"order:eip7683:0x" + std::to_string(i), v.bytes,
                              0, {}},
                  0, 1);
      store.commit();
      store.checkpoint();
      // The fold runs in the background; the figures want the whole tree.
      auto& inner = static_cast<coded_store&>(store).inner();
      if (auto* file = dynamic_cast<file_store*>(&inner))
        file->finish_fold();
      store.close();
      stores->clear(); // a fold still running finishes with the store
      auto use = disk_of(cfg.file.base_path);
      std::printf("%-10s %-9s %10zu %10.0f %10.0f\n", v.name, m.name,
                  v.bytes.size(), double(use.apparent) / n,
                  double(use.allocated) / n);
    }
}

/// Whether `name` is one of the comma-separated `list` (an empty list: all).
bool selected(const std::string& list, const std::string& name) {
  if (list.empty())
    return true;
  return ("," + list + ",").find("," + name + ",") != std::string::npos;
}

} // namespace

int main(int argc, char** argv) {
  size_t ops = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200'000;
  // Seven rounds: with the start rotating, each mode once in each place.
  size_t rounds = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 7;
  size_t window = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 128;
  std::string value_names = argc > 4 ? argv[4] : "";
  std::string mode_names = argc > 5 ? argv[5] : "";
  std::mt19937_64 rng{2026};
  std::vector<value_kind> values{{"256B", random_text(256, rng)},
                                 {"4KiB", random_text(4096, rng)},
                                 {"order", testing::eip7683_order(rng)}};
  // The ratios are against the first mode: keep "none" whatever is chosen.
  modes.erase(std::remove_if(modes.begin() + 1, modes.end(),
                             [&](const mode& m) {
                               return !selected(mode_names, m.name);
                             }),
              modes.end());
  auto order_bytes = values[2].bytes.size();
  values.erase(std::remove_if(values.begin(), values.end(),
                              [&](const value_kind& v) {
                                return !selected(value_names, v.name);
                              }),
               values.end());
  auto work = fs::temp_directory_path() / ("codec-bench-" + std::to_string(::getpid()));
  fs::create_directories(work);
  auto key_file = (work / "k1.key").string();
  {
    std::mt19937_64 krng{std::random_device{}()};
    std::string hex;
    for (int i = 0; i < 64; ++i)
      hex.push_back("0123456789abcdef"[krng() % 16]);
    auto* f = std::fopen(key_file.c_str(), "w");
    std::fputs(hex.c_str(), f);
    std::fclose(f);
    ::chmod(key_file.c_str(), 0600);
  }
  dictionary_file = (work / "orders.zdict").string();
  train_dictionary(dictionary_file);
  std::printf("codec-bench: %u hardware threads; the order is %zu bytes of "
              "JSON\n",
              std::thread::hardware_concurrency(), order_bytes);
  codec_alone(values, key_file);
  through_actors(values, key_file, ops, rounds, window);
  bytes_on_disk(values, key_file, work.string());
  fs::remove_all(work);
}
