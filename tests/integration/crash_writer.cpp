// The child of the crash test (tests/integration/crash_test.cpp): writes
// through the real store actors (start_store, an embedded backend, fsync:
// always) until it is killed, and prints every acknowledged write as one line
//   A <key> <seq> <version>
// on stdout, after the acknowledgement arrived. Transaction writers each
// own one order and commit transactions that write one generation (their
// seq) to every fill key of it (one placement group, so one shard):
//   T <order> <seq>
// after the transaction was acknowledged. Usage:
//   crash_writer TYPE BASE_PATH SHARDS CYCLE SEED   (TYPE: file | rocksdb)

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/store.hpp"
#include "backends/file/plugin.hpp"
#include "tests/support/file_test_support.hpp"
#include "backends/compiled_plugins.hpp"
#include "tests/integration/crash_values.hpp"
#include "messages/protocol.hpp"

using namespace solver_state;

namespace {

constexpr int writers = 16;
constexpr int hot_keys = 100;

/// One write() per line: lines from several threads never interleave.
void print_line(const std::string& line) {
  auto rc = ::write(STDOUT_FILENO, line.data(), line.size());
  (void) rc;
}

void writer(caf::event_based_actor* self, state_actor store, int id,
            uint64_t cycle, uint64_t seed) {
  auto rng = std::make_shared<std::mt19937_64>(seed * 1000 + id);
  auto n = std::make_shared<uint64_t>(0);
  auto step = std::make_shared<std::function<void()>>();
  *step = [=] {
    uint64_t seq = (cycle * 100 + id) * 10'000'000 + (*n)++;
    std::string key = (*rng)() % 4 != 0
                        ? "hot:" + std::to_string((*rng)() % hot_keys)
                        : "crash:c" + std::to_string(cycle) + ":w"
                            + std::to_string(id) + ":" + std::to_string(seq);
    set_request req{key, crash::make_value(key, seq), 0, condition::always()};
    self->request(store, std::chrono::seconds{30}, put_atom_v, std::move(req))
      .then(
        [=](const write_result& w) {
          print_line("A " + key + " " + std::to_string(seq) + " "
                     + std::to_string(w.version) + "\n");
          (*step)();
        },
        [=](caf::error& err) {
          print_line("E " + key + " " + message_of(err) + "\n");
          (*step)();
        });
  };
  (*step)();
}

/// The keys a transaction of `order` writes: fill keys of one placement
/// group, so one shard holds them under any placement rule.
std::vector<std::string> transaction_keys(const std::string& order) {
  std::vector<std::string> out;
  for (int i = 0; i < crash::transaction_keys; ++i)
    out.push_back(crash::fill_key(order, i));
  return out;
}

void transaction_writer(caf::event_based_actor* self, state_actor store,
                        int id, uint64_t cycle) {
  auto order = "c" + std::to_string(cycle) + "t" + std::to_string(id);
  auto n = std::make_shared<uint64_t>(0);
  auto step = std::make_shared<std::function<void()>>();
  *step = [=] {
    uint64_t seq = (cycle * 100 + id) * 10'000'000 + (*n)++;
    transaction_request req;
    for (auto& key : transaction_keys(order))
      req.ops.push_back(txn_op::put(key, crash::make_value(key, seq)));
    self->request(store, std::chrono::seconds{30}, transact_atom_v,
                  std::move(req))
      .then(
        [=](const transaction_reply&) {
          print_line("T " + order + " " + std::to_string(seq) + "\n");
          (*step)();
        },
        [=](caf::error& err) {
          print_line("E " + order + " " + message_of(err) + "\n");
          (*step)();
        });
  };
  (*step)();
}

/// TYPE file-slow-fold: the file backend on a disk where each value file
/// costs 10 ms more, with a small max_unfolded_bytes, so the writers run into
/// the backpressure within a second (the crash test kills them there).
class slow_fold_plugin final : public state_backend_plugin {
public:
  std::string_view name() const override { return "file-slow-fold"; }
  bool blocking() const override { return true; }
  caf::expected<store_list> create_stores(const state_config& cfg) override {
    return open_file_stores(
      cfg, std::make_shared<testing::slow_fold_env>(std::chrono::milliseconds{10}));
  }
};

} // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s TYPE BASE_PATH SHARDS CYCLE SEED\n",
                 argv[0]);
    return 2;
  }
  // The log goes to stderr: stdout carries the acknowledgements, a line
  // each, to the crash test.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("crash-writer"));
  spdlog::set_level(spdlog::level::warn);
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config state;
  state.type = argv[1];
  state.max_items = 0;
  state.shards = std::stoul(argv[3]);
  state.file.base_path = argv[2];
  state.file.fsync = fsync_policy::always;
  // Checkpoints often, so kills also land in the middle of folds.
  state.file.sync_interval = std::chrono::milliseconds{100};
  state.rocksdb.base_path = argv[2];
  state.rocksdb.fsync = fsync_policy::always;
  // Small memtables, so kills also land in the middle of flushes.
  state.rocksdb.cache_bytes = 4u << 20;
  const plugin_registry* plugins = &compiled_plugins();
  plugin_registry slow_disk;
  if (state.type == "file-slow-fold") {
    slow_disk.add(std::make_unique<slow_fold_plugin>());
    plugins = &slow_disk;
    state.file.max_unfolded_bytes = 1u << 20;
  }
  auto store = start_store(sys, state, *plugins);
  if (!store) {
    std::fprintf(stderr, "cannot start store: %s\n",
                 message_of(store.error()).c_str());
    return 1;
  }
  print_line("READY\n");
  auto cycle = std::stoull(argv[4]);
  auto seed = std::stoull(argv[5]);
  for (int i = 0; i < writers; ++i)
    sys.spawn(writer, store->router, i, cycle, seed);
  for (int i = 0; i < crash::transaction_writers; ++i)
    sys.spawn(transaction_writer, store->router, i, cycle);
  // Runs until SIGKILL.
  for (;;)
    std::this_thread::sleep_for(std::chrono::seconds{1});
}
