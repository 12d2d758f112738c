// Issue 14's watch fan-out benchmark, in process, one run: single-key sets
// through the router with a bounded window, first with no watcher, then
// with N watchers (typed watcher actors, counting) on the prefix being
// written. Reports both write rates and their ratio (target >= 0.5), how
// long the watchers took to receive every change after the last write, and
// whether every watcher received every change (no resync).
// Usage: watch-bench [ops=200000] [watchers=100] [memory|file] [window=128]

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

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"

using namespace solver_state;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr size_t value_bytes = 256;
constexpr size_t key_count = 10'000;

struct tally {
  std::atomic<uint64_t> events{0};
  std::atomic<uint64_t> resyncs{0};
};

watcher_actor::behavior_type counting_watcher(watcher_actor::pointer,
                                              std::shared_ptr<tally> t) {
  return {
    [t](const change_batch& b) { t->events += b.events.size(); },
    [t](resync_atom, const std::string&, bool) { ++t->resyncs; },
  };
}

/// Writes `total` sets with `window` in flight; answers `done` at the end.
void writer(caf::event_based_actor* self, state_actor store, size_t total,
            size_t window, caf::actor done) {
  auto sent = std::make_shared<size_t>(0);
  auto answered = std::make_shared<size_t>(0);
  auto value = std::make_shared<std::string>(value_bytes, 'v');
  auto next = std::make_shared<std::function<void()>>();
  *next = [=] {
    if (*sent == total)
      return;
    auto key = "bench:" + std::to_string((*sent)++ % key_count);
    self->request(store, caf::infinite, put_atom_v,
                  set_request{std::move(key), *value, 0, {}})
      .then(
        [=](const write_result&) {
          if (++*answered == total)
            self->send(done, true);
          (*next)();
        },
        [=](caf::error&) {
          if (++*answered == total)
            self->send(done, false);
          (*next)();
        });
  };
  for (size_t i = 0; i < window; ++i)
    (*next)();
}

double write_rate(caf::actor_system& sys, const state_actor& store,
                  size_t total, size_t window) {
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  sys.spawn(writer, store, total, window, caf::actor{self});
  bool ok = false;
  self->receive([&](bool b) { ok = b; });
  std::chrono::duration<double> secs = clock_type::now() - start;
  if (!ok)
    std::fprintf(stderr, "warning: some writes failed\n");
  return total / secs.count();
}

} // namespace

int main(int argc, char** argv) {
  size_t ops = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200'000;
  size_t watchers = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100;
  std::string backend = argc > 3 ? argv[3] : "memory";
  size_t window = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 128;
  caf::actor_system_config cfg;
  register_message_types(cfg);
  auto system = std::make_unique<caf::actor_system>(cfg);
  auto& sys = *system;
  auto dir = std::filesystem::temp_directory_path()
             / ("watch-bench-" + std::to_string(::getpid()));
  state_config sc;
  sc.type = backend;
  sc.shards = backend == "file" ? 1 : 4;
  sc.max_items = 0;
  sc.file.base_path = dir.string();
  sc.file.fsync = fsync_policy::never;
  // The store's handles go before the actor system, which waits for its
  // (detached, for the file backend) shards to be released.
  int rc = [&] {
  auto store = start_store(sys, sc, compiled_plugins());
  if (!store) {
    std::fprintf(stderr, "%s\n", message_of(store.error()).c_str());
    return 1;
  }
  std::printf("watch-bench: %s, %zu sets of %zu-byte values over %zu keys, "
              "window %zu, %zu watchers; %u cores\n",
              backend.c_str(), ops, value_bytes, key_count, window, watchers,
              std::thread::hardware_concurrency());
  write_rate(sys, store->router, ops / 4, window); // warm up
  auto alone = write_rate(sys, store->router, ops, window);
  std::vector<std::shared_ptr<tally>> tallies;
  std::vector<watcher_actor> spawned;
  {
    caf::scoped_actor self{sys};
    for (size_t i = 0; i < watchers; ++i) {
      tallies.push_back(std::make_shared<tally>());
      spawned.push_back(sys.spawn(counting_watcher, tallies.back()));
      self->request(store->hub, std::chrono::seconds{10}, watch_atom_v,
                    watch_request{"bench:", false, 0, 0}, spawned.back())
        .receive([](const watch_started&) {},
                 [](caf::error& err) {
                   std::fprintf(stderr, "watch: %s\n",
                                message_of(err).c_str());
                   std::exit(1);
                 });
    }
  }
  auto watched = write_rate(sys, store->router, ops, window);
  auto written = clock_type::now();
  auto all_in = [&] {
    for (auto& t : tallies)
      if (t->events < ops && t->resyncs == 0)
        return false;
    return true;
  };
  while (!all_in() && clock_type::now() - written < std::chrono::seconds{120})
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  std::chrono::duration<double> lag = clock_type::now() - written;
  uint64_t least = ops, most = 0, resyncs = 0;
  for (auto& t : tallies) {
    least = std::min<uint64_t>(least, t->events);
    most = std::max<uint64_t>(most, t->events);
    resyncs += t->resyncs;
  }
  std::printf("%-28s %12.0f sets/s\n", "no watcher", alone);
  std::printf("%-28s %12.0f sets/s   ratio %.2f (target >= 0.50)\n",
              (std::to_string(watchers) + " watchers").c_str(), watched,
              watched / alone);
  std::printf("every watcher got every change: %s (least %llu, most %llu "
              "of %zu; %llu resyncs), %.3f s after the last write\n",
              least == ops && resyncs == 0 ? "yes" : "NO",
              static_cast<unsigned long long>(least),
              static_cast<unsigned long long>(most), ops,
              static_cast<unsigned long long>(resyncs), lag.count());
  for (auto& w : spawned)
    caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  stop_store(*store);
  return least == ops && resyncs == 0 ? 0 : 2;
  }();
  system.reset(); // waits for the shards to close their files
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
