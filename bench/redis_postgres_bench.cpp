// Redis and PostgreSQL backends through the store actors, each against its
// server's own benchmark tool in the same run, on the same server:
//   redis:      redis-benchmark -c 50 -d 256 -t get,set -r 100000 (unpipelined)
//   postgresql: pgbench -c 50 -M prepared, one upsert per transaction, the
//               same statement shape as the backend's set
// Ours, twice on the same server:
//   store:   50 client actors, each with one request outstanding
//            (unpipelined, like the tools), 256-byte values, keys from
//            100000, through start_store's router to the detached shards;
//   1/trip:  the same, but the stores hide pipelines(), so each shard
//            makes one round trip per op (as before pipelining);
//   gateway: build/solver-state (state.type = the same server, http.threads
//            1) driven by `wrk -t1 -c50` cycling through 100000 requests
//            formatted up front, each for a random key of 100000 (PUT 256
//            bytes, then GET): the whole service, HTTP included, as a client
//            sees it.
//
// Usage: redis_postgres_bench [redis|postgresql|all] [seconds] [shards...]
// (the store phases use the first shard count, the gateway runs once per
// count; default 2, the network backends' default)
// (SOLVER_STATE_BIN names the service binary; default build/solver-state)

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/protocol.hpp"
#include "tests/support/postgres_server.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/server_process.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

namespace {

constexpr int clients = 50;
constexpr int keyspace = 100000;
constexpr size_t value_bytes = 256;

struct load_result {
  double ops_per_s = 0;
  uint64_t failures = 0;
};

/// `clients` actors, each keeping one request in flight for `seconds`.
load_result drive(caf::actor_system& sys, state_actor router, bool writes,
                  int seconds) {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<int> active{clients};
  std::atomic<bool> stop{false};
  const std::string value(value_bytes, 'x');
  for (int c = 0; c < clients; ++c)
    sys.spawn([&, c](caf::event_based_actor* self) {
      auto rng = std::make_shared<std::minstd_rand>(c + 1);
      auto next = std::make_shared<std::function<void()>>();
      *next = [&, self, rng, next] {
        if (stop) {
          --active;
          *next = nullptr; // break the cycle
          return;
        }
        auto key = "state:bench:" + std::to_string((*rng)() % keyspace);
        auto on_error = [&, next](caf::error& err) {
          if (code_of(err) != state_errc::not_found)
            ++failures;
          ++done;
          (*next)();
        };
        if (writes)
          self
            ->request(router, 30s, put_atom_v,
                      set_request{key, value, 0, condition::always()})
            .then(
              [&, next](const write_result&) {
                ++done;
                (*next)();
              },
              on_error);
        else
          self->request(router, 30s, get_atom_v, key)
            .then([&, next](entry&) { ++done; (*next)(); }, on_error);
      };
      (*next)();
    });
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds{seconds});
  auto count = done.load();
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now()
                                          - start;
  stop = true;
  while (active > 0)
    std::this_thread::sleep_for(10ms);
  return {count / elapsed.count(), failures.load()};
}

struct phase_result {
  load_result set;
  load_result get;
};

/// A store as it was before pipelining: the same backend store, but the
/// shard sees pipelines() == false, so it sends one op per round trip. Run
/// in the same process on the same server, it isolates what pipelining
/// gains.
class one_at_a_time final : public state_store {
public:
  explicit one_at_a_time(std::unique_ptr<state_store> inner)
    : inner_(std::move(inner)) {}
  std::string_view backend_name() const override {
    return inner_->backend_name();
  }
  caf::expected<entry> get(const std::string& key, unix_ms now) override {
    return inner_->get(key, now);
  }
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override {
    return inner_->set(std::move(req), expires_at, now);
  }
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override {
    return inner_->erase(req, now);
  }
  caf::expected<key_page> list(const list_request& req, unix_ms now) override {
    return inner_->list(req, now);
  }
  size_t sweep(unix_ms now, std::vector<std::string>* expired) override {
    return inner_->sweep(now, expired);
  }
  caf::error close() override { return inner_->close(); }
  caf::error health_check() override { return inner_->health_check(); }

private:
  std::unique_ptr<state_store> inner_;
};

class one_at_a_time_plugin final : public state_backend_plugin {
public:
  explicit one_at_a_time_plugin(state_backend_plugin* inner) : inner_(inner) {}
  std::string_view name() const override { return inner_->name(); }
  bool blocking() const override { return true; }
  bool shared(const state_config& cfg) const override {
    return inner_->shared(cfg);
  }
  caf::expected<store_list> create_stores(const state_config& cfg) override {
    auto stores = inner_->create_stores(cfg);
    if (stores)
      for (auto& s : *stores)
        s = std::make_unique<one_at_a_time>(std::move(s));
    return stores;
  }

private:
  state_backend_plugin* inner_;
};

phase_result measure_store(const std::string& type, size_t shards,
                           int seconds, bool with_gets,
                           bool pipelined = true) {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};
  state_config sc;
  sc.type = type;
  sc.shards = shards;
  sc.max_items = 0;
  plugin_registry unpipelined;
  unpipelined.add(std::make_unique<one_at_a_time_plugin>(
    compiled_plugins().find(type)));
  auto store = start_store(sys, sc,
                           pipelined ? compiled_plugins()
                                     : unpipelined);
  if (!store) {
    std::cerr << "cannot start store: " << message_of(store.error()) << "\n";
    std::exit(1);
  }
  phase_result out;
  out.set = drive(sys, store->router, true, seconds);
  if (with_gets)
    out.get = drive(sys, store->router, false, seconds);
  stop_store(*store);
  return out;
}

std::string capture(const std::string& cmd);

/// Requests per second of `wrk` (50 connections, random keys) against the
/// service binary on `state_type`: PUTs, then GETs.
phase_result measure_gateway(const std::string& state_type, size_t shards,
                             int seconds, bool with_gets) {
  phase_result out;
  const char* bin = std::getenv("SOLVER_STATE_BIN");
  std::string binary = bin ? bin : "build/solver-state";
  testing::temp_dir dir{"gateway-bench"};
  std::ofstream{dir.path() + "/config.yaml"}
    << "state:\n  type: \"" << state_type << "\"\n  shards: " << shards
    << "\n  max_items: 0\nhttp:\n  threads: 1\nlog:\n  level: info\n";
  // The requests are formatted once, in init(): formatting each request in
  // Lua as it is sent costs wrk about 2 us of the two cores the service and
  // the server share, which redis-benchmark's client does not spend either.
  for (auto [name, writes] : {std::pair{"put", true}, {"get", false}})
    std::ofstream{dir.path() + "/" + name + ".lua"}
      << "local requests = {}\n"
      << "local count = " << keyspace << "\n"
      << "local next = 0\n"
      << "init = function(args)\n"
      << "  local value = string.rep('x', " << value_bytes << ")\n"
      << "  math.randomseed(os.time())\n"
      << "  for i = 1, count do\n"
      << "    local path = '/v1/state/bench:' .. math.random(0, count - 1)\n"
      << (writes ? "    requests[i] = wrk.format('PUT', path, "
                   "{['Content-Type'] = 'application/octet-stream'}, value)\n"
                 : "    requests[i] = wrk.format('GET', path)\n")
      << "  end\n"
      << "end\n"
      << "request = function()\n"
      << "  next = next % count + 1\n"
      << "  return requests[next]\n"
      << "end\n";
  testing::child_process service;
  auto log = dir.path() + "/service.log";
  if (!service.start({binary, "--config", dir.path() + "/config.yaml",
                      "--listen", "127.0.0.1:0"},
                     log)) {
    std::cerr << "cannot start " << binary << "\n";
    return out;
  }
  std::string port;
  testing::wait_until(
    [&] {
      auto text = testing::read_text(log);
      auto at = text.find("listening on 127.0.0.1:");
      if (at == std::string::npos)
        return false;
      at += 23;
      port = text.substr(at, text.find_first_not_of("0123456789", at) - at);
      return !port.empty();
    },
    std::chrono::seconds{10});
  if (port.empty()) {
    std::cerr << testing::read_text(log);
    return out;
  }
  auto run = [&](const char* script) {
    auto text = capture("wrk -t1 -c" + std::to_string(clients) + " -d"
                        + std::to_string(seconds) + "s -s " + dir.path() + "/"
                        + script + " http://127.0.0.1:" + port + "/ 2>&1");
    load_result r;
    if (auto at = text.find("Requests/sec:"); at != std::string::npos)
      r.ops_per_s = std::stod(text.substr(at + 13));
    else
      std::cerr << text;
    // GETs of keys never written are 404s, which is an answer, not a
    // failure; socket errors and 5xx are counted.
    if (auto at = text.find("Socket errors"); at != std::string::npos)
      r.failures = 1;
    return r;
  };
  out.set = run("put.lua");
  if (with_gets)
    out.get = run("get.lua");
  service.stop(SIGTERM);
  return out;
}

/// Runs a shell command, returning its standard output.
std::string capture(const std::string& cmd) {
  std::string out;
  if (auto* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
      out.append(buf, n);
    pclose(p);
  }
  return out;
}

/// The requests/s of `test` in redis-benchmark --csv output.
double csv_rps(const std::string& csv, const std::string& test) {
  std::istringstream in{csv};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("\"" + test + "\"", 0) == 0) {
      auto a = line.find(",\"") + 2;
      return std::stod(line.substr(a, line.find('"', a) - a));
    }
  return 0;
}

void report(const char* backend, const char* op, const std::string& via,
            double tool, double ours, uint64_t failures, double target) {
  std::printf("%-10s %-6s tool %10.0f/s  %-10s %10.0f/s  ratio %.2f "
              "(target >= %.1f)%s\n",
              backend, op, tool, via.c_str(), ours,
              tool > 0 ? ours / tool : 0, target,
              failures ? "  FAILURES" : "");
  if (failures)
    std::printf("  %llu failed operations\n",
                static_cast<unsigned long long>(failures));
}

/// The tool's rate before and after our phases: the machine's load drifts
/// over a run, so the baseline is their mean and both are printed.
struct baseline {
  double before = 0;
  double after = 0;
  double mean() const { return (before + after) / 2; }
};

void print_baseline(const char* what, const baseline& b) {
  std::printf("%-17s tool before %10.0f/s  after %10.0f/s\n", what, b.before,
              b.after);
}

/// The label of a gateway phase with `shards` shards.
std::string gateway_label(size_t shards) {
  return "gateway/" + std::to_string(shards);
}

void bench_redis(int seconds, const std::vector<size_t>& shard_counts) {
  auto shards = shard_counts.front();
  testing::redis_server server;
  auto port = std::to_string(server.port());
  auto n = std::to_string(std::max(100000, seconds * 40000));
  auto tool = [&] {
    auto csv = capture("redis-benchmark -h 127.0.0.1 -p " + port + " -c "
                       + std::to_string(clients) + " -n " + n
                       + " -d 256 -r 100000 -t set,get --csv 2>/dev/null");
    server.flush();
    return std::pair{csv_rps(csv, "SET"), csv_rps(csv, "GET")};
  };
  baseline set;
  baseline get;
  std::tie(set.before, get.before) = tool();
  auto ours = measure_store(server.url("bench:"), shards, seconds, true);
  server.flush();
  auto single = measure_store(server.url("single:"), shards, seconds, true,
                              false);
  server.flush();
  std::vector<phase_result> http;
  for (auto n : shard_counts) {
    http.push_back(measure_gateway(server.url("gw:"), n, seconds, true));
    server.flush();
  }
  std::tie(set.after, get.after) = tool();
  print_baseline("redis SET", set);
  print_baseline("redis GET", get);
  report("redis", "SET", "store", set.mean(), ours.set.ops_per_s,
         ours.set.failures, 0.5);
  report("redis", "GET", "store", get.mean(), ours.get.ops_per_s,
         ours.get.failures, 0.5);
  report("redis", "SET", "1/trip", set.mean(), single.set.ops_per_s,
         single.set.failures, 0.5);
  report("redis", "GET", "1/trip", get.mean(), single.get.ops_per_s,
         single.get.failures, 0.5);
  for (size_t i = 0; i < shard_counts.size(); ++i) {
    auto via = gateway_label(shard_counts[i]);
    report("redis", "SET", via, set.mean(), http[i].set.ops_per_s,
           http[i].set.failures, 0.5);
    report("redis", "GET", via, get.mean(), http[i].get.ops_per_s,
           http[i].get.failures, 0.5);
  }
}

void bench_postgres(int seconds, const std::vector<size_t>& shard_counts) {
  auto shards = shard_counts.front();
  testing::postgres_server server;
  // The tool's table has the backend's schema; the store makes its own.
  server.sql("CREATE TABLE pgb (key bytea PRIMARY KEY, value bytea NOT NULL,"
             " version bigint NOT NULL, expires_at bigint NOT NULL DEFAULT 0);"
             "CREATE SEQUENCE pgb_version");
  auto script = server.dir() + "/upsert.sql";
  // No ':' inside the SQL text: pgbench would read ":bench" as a variable.
  std::ofstream{script}
    << "\\set k random(0, " << keyspace - 1 << ")\n"
    << "INSERT INTO pgb AS t (key, value, version, expires_at) VALUES "
       "(convert_to('state' || chr(58) || 'bench' || chr(58) || CAST(:k AS text), "
       "'UTF8'), "
       "convert_to(repeat('x', 256), 'UTF8'), nextval('pgb_version'), 0) "
       "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
       "version = EXCLUDED.version, expires_at = EXCLUDED.expires_at "
       "RETURNING t.version;\n";
  auto tool = [&] {
    auto out = capture("/usr/lib/postgresql/15/bin/pgbench -n -M prepared -c "
                       + std::to_string(clients) + " -j 2 -T "
                       + std::to_string(seconds) + " -f " + script
                       + " -h 127.0.0.1 -p " + std::to_string(server.port())
                       + " -U postgres postgres 2>&1");
    if (auto at = out.find("tps = "); at != std::string::npos)
      return std::stod(out.substr(at + 6));
    std::cerr << out;
    return 0.0;
  };
  baseline tps;
  tps.before = tool();
  auto ours = measure_store(server.url(), shards, seconds, false);
  auto single = measure_store(server.url() + "?table=single", shards, seconds,
                              false, false);
  std::vector<phase_result> http;
  for (auto n : shard_counts)
    http.push_back(measure_gateway(
      server.url() + "?table=gateway" + std::to_string(n), n, seconds, false));
  tps.after = tool();
  print_baseline("postgresql UPSERT", tps);
  report("postgresql", "UPSERT", "store", tps.mean(), ours.set.ops_per_s,
         ours.set.failures, 0.7);
  report("postgresql", "UPSERT", "1/trip", tps.mean(), single.set.ops_per_s,
         single.set.failures, 0.7);
  for (size_t i = 0; i < shard_counts.size(); ++i)
    report("postgresql", "UPSERT", gateway_label(shard_counts[i]), tps.mean(),
           http[i].set.ops_per_s, http[i].set.failures, 0.7);
}

} // namespace

int main(int argc, char** argv) {
  std::string which = argc > 1 ? argv[1] : "all";
  int seconds = argc > 2 ? std::atoi(argv[2]) : 5;
  // The store phases use the first shard count; the gateway runs once per
  // count. The default is the network backends' default (2).
  std::vector<size_t> shards;
  for (int i = 3; i < argc; ++i)
    if (auto n = std::strtoul(argv[i], nullptr, 10); n > 0)
      shards.push_back(n);
  if (shards.empty())
    shards.push_back(2);
  std::string listed;
  for (auto n : shards)
    listed += (listed.empty() ? "" : ", ") + std::to_string(n);
  std::printf("%d clients, 256-byte values, %d keys, %d s per phase, "
              "shards %s, %u cores\n",
              clients, keyspace, seconds, listed.c_str(),
              std::thread::hardware_concurrency());
  if (which == "redis" || which == "all")
    bench_redis(seconds, shards);
  if (which == "postgresql" || which == "all")
    bench_postgres(seconds, shards);
}
