// Transactions on the network backends against single-key writes, in one
// run: one store (one connection, as one shard has) on a real redis-server
// and PostgreSQL started by the test fixtures, writing 256-byte values for
// `seconds` per phase: single-key set, then 2-key and 10-key transactions.
// Usage: transaction_bench [redis|postgresql|all] [seconds]
// Reports ops/s (transactions/s) and keys written/s per phase.

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "backends/state_store.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/redis_server.hpp"

using namespace solver_state;
using steady = std::chrono::steady_clock;

namespace {

unix_ms wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::unique_ptr<state_store> open_store(const std::string& type) {
  state_config cfg;
  cfg.type = type;
  cfg.shards = 1;
  auto stores = compiled_plugins().find(type)->create_stores(cfg);
  if (!stores) {
    std::fprintf(stderr, "%s: %s\n", type.c_str(),
                 message_of(stores.error()).c_str());
    std::exit(1);
  }
  return std::move((*stores)[0]);
}

/// Writes of `keys_per_op` keys (1: a plain set, else one transaction) for
/// `seconds`, over a rotating set of 1000 keys; operations per second.
double measure(state_store& s, size_t keys_per_op, int seconds) {
  std::string value(256, 'v');
  auto end = steady::now() + std::chrono::seconds(seconds);
  long ops = 0;
  long failures = 0;
  size_t next_key = 0;
  auto start = steady::now();
  while (steady::now() < end) {
    if (keys_per_op == 1) {
      auto key = "bench:" + std::to_string(next_key++ % 1000);
      if (!s.set(set_request{key, value, 0, condition::always()}, 0,
                 wall_ms()))
        ++failures;
    } else {
      std::vector<pending_op> ops_of_txn(keys_per_op);
      for (auto& op : ops_of_txn) {
        op.kind = pending_op::set;
        op.write = set_request{"bench:" + std::to_string(next_key++ % 1000),
                               value, 0, condition::always()};
      }
      if (s.transact(ops_of_txn, wall_ms()))
        ++failures;
    }
    ++ops;
  }
  std::chrono::duration<double> took = steady::now() - start;
  if (failures != 0)
    std::printf("  (%ld failures)\n", failures);
  return ops / took.count();
}

void bench(const char* name, const std::string& type, int seconds) {
  auto store = open_store(type);
  for (size_t keys : {size_t{1}, size_t{2}, size_t{10}}) {
    auto rate = measure(*store, keys, seconds);
    std::printf("%-10s %-16s %9.0f ops/s %9.0f keys/s\n", name,
                keys == 1 ? "set (1 key)"
                          : ("txn " + std::to_string(keys) + " keys").c_str(),
                rate, rate * keys);
  }
}

} // namespace

int main(int argc, char** argv) {
  std::string which = argc > 1 ? argv[1] : "all";
  int seconds = argc > 2 ? std::atoi(argv[2]) : 3;
  if (which == "all" || which == "redis") {
    testing::redis_server server;
    bench("redis", server.url("bench:"), seconds);
  }
  if (which == "all" || which == "postgresql") {
    testing::postgres_server server;
    bench("postgresql", server.url(), seconds);
  }
}
