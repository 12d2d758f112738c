// DynamoDB backend on dynalite vs the memory backend, same operations, same
// run: one store called from one thread (as a shard calls it). The ratio says
// what a network backend costs per operation; dynalite (Node.js + LevelDB on
// loopback) is not AWS, so absolute numbers say little about production.
// The same operations over HTTPS (dynalite --ssl, one kept-alive connection)
// against plain HTTP give what TLS costs per request once connected.
//
//   build/bench/dynamodb_bench [ops]      (needs scripts/install-dynalite.sh)

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "tests/support/dynalite_server.hpp"

using namespace solver_state;
using clock_type = std::chrono::steady_clock;

namespace {

unix_ms wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

std::unique_ptr<state_store> open(const std::string& type) {
  state_config cfg;
  cfg.type = type;
  cfg.shards = 1;
  cfg.max_items = 0;
  auto stores = compiled_plugins().find(type)->create_stores(cfg);
  if (!stores) {
    std::fprintf(stderr, "%s: %s\n", type.c_str(),
                 message_of(stores.error()).c_str());
    std::exit(1);
  }
  return std::move(stores->front());
}

/// Operations per second of `op` run `n` times.
double rate(int n, const std::function<void(int)>& op) {
  auto start = clock_type::now();
  for (int i = 0; i < n; ++i)
    op(i);
  std::chrono::duration<double> took = clock_type::now() - start;
  return n / took.count();
}

struct figures {
  double set, get, cond_set, batch_keys, list_keys;
};

figures measure(state_store& s, int n) {
  auto now = wall_now();
  std::string value(256, 'v');
  auto key = [](int i) { return "order:bench:" + std::to_string(100000 + i); };
  figures f{};
  f.set = rate(n, [&](int i) {
    if (!s.set(set_request{key(i), value, 0, {}}, 0, now))
      std::abort();
  });
  f.get = rate(n, [&](int i) {
    if (!s.get(key(i), now))
      std::abort();
  });
  f.cond_set = rate(n, [&](int i) {
    auto e = s.get(key(i), now);
    if (!s.set(set_request{key(i), value, 0, condition::matches(e->version)},
               0, now))
      std::abort();
  });
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i)
    keys.push_back(key(i));
  int batches = std::max(1, n / 100);
  f.batch_keys = 100 * rate(batches, [&](int) {
    if (!s.batch_get(keys, now))
      std::abort();
  });
  int lists = std::max(1, n / 200);
  f.list_keys = 100 * rate(lists, [&](int i) {
    if (!s.list(list_request{"order:bench:", key((i * 100) % n), 100}, now))
      std::abort();
  });
  return f;
}

} // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  using transport = solver_state::testing::dynalite_server::transport;
  solver_state::testing::dynalite_server server;
  solver_state::testing::dynalite_server tls_server{transport::https};
  auto memory = open("memory");
  auto dynamo = open(server.url("bench"));
  auto dynamo_tls = open(tls_server.url("bench"));
  auto m = measure(*memory, n);
  auto d = measure(*dynamo, n);
  auto t = measure(*dynamo_tls, n);
  std::printf("%d ops each, one store, one thread (memory = baseline; "
              "https against http)\n",
              n);
  std::printf("%-28s %12s %10s %10s %10s %10s\n", "operation", "memory/s",
              "http/s", "http/mem", "https/s", "https/http");
  auto row = [](const char* name, double a, double b, double c) {
    std::printf("%-28s %12.0f %10.0f %9.4fx %10.0f %9.2fx\n", name, a, b,
                b / a, c, c / b);
  };
  row("set", m.set, d.set, t.set);
  row("get", m.get, d.get, t.get);
  row("get + if_version set", m.cond_set, d.cond_set, t.cond_set);
  row("batch_get (keys/s, 100/call)", m.batch_keys, d.batch_keys,
      t.batch_keys);
  row("list (keys/s, 100/page)", m.list_keys, d.list_keys, t.list_keys);
}
