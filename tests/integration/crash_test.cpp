// Crash test of the embedded backends (file, rocksdb): a child process
// (crash_writer) writes through the real store actors with fsync: always and prints every
// acknowledged write; this test kills it with SIGKILL at random moments, and
// after each kill reopens base_path and checks that every acknowledged write
// is there with its exact bytes and version, and that no value anywhere is
// half-written. Transactions (10 keys of one order each) must be all or
// nothing: after every kill each order's keys hold one generation, at least
// the last one acknowledged. Cycles: SOLVER_STATE_CRASH_CYCLES (default 30).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <random>
#include <sstream>

#include "backends/compiled_plugins.hpp"
#include "tests/integration/crash_values.hpp"
#include "tests/support/file_test_support.hpp"

using namespace solver_state;
using namespace solver_state::testing;

namespace {

struct ack {
  uint64_t seq = 0;
  version_t version = 0;
};

struct child {
  pid_t pid = -1;
  int out = -1;
  std::string buffer;
};

child spawn_writer(const std::string& type, const std::string& base,
                   size_t shards, int cycle, uint64_t seed,
                   const std::string& log_file) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    if (!log_file.empty()) {
      int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0)
        ::dup2(log, STDERR_FILENO);
    }
    ::close(fds[0]);
    ::close(fds[1]);
    auto shards_text = std::to_string(shards);
    auto cycle_text = std::to_string(cycle);
    auto seed_text = std::to_string(seed);
    ::execl(CRASH_WRITER, CRASH_WRITER, type.c_str(), base.c_str(),
            shards_text.c_str(), cycle_text.c_str(), seed_text.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  return child{pid, fds[0], {}};
}

/// Reads what the child printed until `deadline` (or EOF); complete lines
/// go to `lines`. False on EOF.
bool read_lines(child& c, std::chrono::steady_clock::time_point deadline,
                std::vector<std::string>& lines) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      return true;
    pollfd p{c.out, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    char buf[65536];
    auto n = ::read(c.out, buf, sizeof buf);
    if (n <= 0)
      return false;
    c.buffer.append(buf, static_cast<size_t>(n));
    size_t pos;
    while ((pos = c.buffer.find('\n')) != std::string::npos) {
      lines.push_back(c.buffer.substr(0, pos));
      c.buffer.erase(0, pos + 1);
      if (lines.back() == "READY")
        return true;
    }
  }
}

/// The generation (seq) every key of `order` holds, -1 when none exists;
/// fails the test when its keys disagree (a transaction kept in part).
int64_t order_generation(opened_store& store, const std::string& order) {
  std::set<int64_t> seen;
  std::string found;
  for (int i = 0; i < crash::transaction_keys; ++i) {
    auto key = crash::fill_key(order, i);
    auto e = store.get(key);
    int64_t gen = -1;
    if (e) {
      auto seq = crash::seq_of(key, e->value);
      REQUIRE(seq);
      gen = static_cast<int64_t>(*seq);
    } else {
      REQUIRE(code_of(e.error()) == state_errc::not_found);
    }
    seen.insert(gen);
    found += " " + key + "=" + std::to_string(gen);
  }
  INFO("order " << order << ":" << found);
  CHECK(seen.size() == 1);
  return *seen.rbegin();
}

/// The stores of `base` as a restarted service opens them.
caf::expected<opened_store> reopen(const std::string& type,
                                   const std::string& base, size_t shards) {
  auto cfg = file_config_for(base, shards, fsync_policy::always);
  if (type == "file" || type == "file-slow-fold")
    return open_store(cfg);
  cfg.type = type;
  cfg.rocksdb.base_path = base;
  cfg.rocksdb.cache_bytes = 4u << 20;
  auto stores = compiled_plugins().find(type)->create_stores(cfg);
  if (!stores)
    return std::move(stores.error());
  return opened_store{std::move(*stores)};
}

/// True once the writer's log (its stderr) says its acknowledgements wait
/// for a lagging fold.
bool under_backpressure(const std::string& log_file) {
  std::ifstream in{log_file};
  std::string text{std::istreambuf_iterator<char>(in), {}};
  return text.find("the fold lags behind the writes") != std::string::npos;
}

/// Kills a writer of backend `type` at random moments (with
/// `in_backpressure`, moments after its writes began to wait for the fold)
/// and checks after each kill what the reopened store holds.
void run_crash_cycles(const std::string& type, bool in_backpressure = false) {
  temp_dir dir;
  auto base = dir.sub("base");
  auto log_file = in_backpressure ? dir.sub("writer.log") : std::string{};
  int cycles = in_backpressure ? 10 : 30;
  if (auto text = std::getenv("SOLVER_STATE_CRASH_CYCLES"))
    cycles = std::atoi(text);
  auto seed = static_cast<uint64_t>(
    std::chrono::system_clock::now().time_since_epoch().count());
  std::mt19937_64 rng{seed};
  std::map<std::string, ack> unique_acks; // written once, must stay
  std::map<std::string, ack> hot_acks;    // overwritten: the newest ack
  size_t acked = 0, checked = 0, errors = 0;
  std::set<std::string> unacked_seen; // complete but never acknowledged
  std::map<std::string, int64_t> orders; // newest acknowledged generation
  size_t transactions = 0, transaction_checks = 0;
  size_t backpressure_kills = 0;
  for (int cycle = 0; cycle < cycles; ++cycle) {
    INFO("seed " << seed << ", cycle " << cycle);
    auto c = spawn_writer(type, base, 1 + rng() % 4, cycle, seed + cycle,
                          log_file);
    std::vector<std::string> lines;
    auto now = std::chrono::steady_clock::now;
    REQUIRE(read_lines(c, now() + std::chrono::seconds{20}, lines));
    REQUIRE(!lines.empty());
    REQUIRE(lines.back() == "READY");
    if (in_backpressure) {
      auto deadline = now() + std::chrono::seconds{30};
      while (!under_backpressure(log_file) && now() < deadline)
        read_lines(c, now() + std::chrono::milliseconds{20}, lines);
      REQUIRE(under_backpressure(log_file));
      ++backpressure_kills;
    }
    read_lines(c, now() + std::chrono::milliseconds{20 + rng() % 150}, lines);
    ::kill(c.pid, SIGKILL);
    while (read_lines(c, now() + std::chrono::seconds{10}, lines)) {
    }
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    ::close(c.out);
    REQUIRE(WIFSIGNALED(status));
    for (auto& line : lines) {
      std::istringstream in{line};
      std::string tag, key;
      ack a;
      in >> tag >> key >> a.seq >> a.version;
      if (tag == "E")
        ++errors;
      if (tag == "T") {
        ++transactions;
        auto& gen = orders[key];
        gen = std::max(gen, static_cast<int64_t>(a.seq));
        continue;
      }
      if (tag != "A")
        continue;
      ++acked;
      if (key.rfind("hot:", 0) == 0) {
        if (a.version > hot_acks[key].version)
          hot_acks[key] = a;
      } else {
        unique_acks[key] = a;
      }
    }
    // Reopen as a restarted service would (with some shard count).
    auto store = reopen(type, base, 1 + rng() % 4);
    INFO((store ? std::string{} : message_of(store.error())));
    REQUIRE(store);
    for (auto& [key, a] : unique_acks) {
      auto e = store->get(key);
      INFO(key);
      REQUIRE(e);
      CHECK(e->version == a.version);
      CHECK(e->value == crash::make_value(key, a.seq));
      ++checked;
    }
    for (auto& [key, a] : hot_acks) {
      auto e = store->get(key);
      INFO(key);
      REQUIRE(e);
      CHECK(e->version >= a.version);
      auto seq = crash::seq_of(key, e->value);
      REQUIRE(seq);
      if (e->version == a.version)
        CHECK(*seq == a.seq);
      ++checked;
    }
    // Every transaction all or nothing, and the acknowledged ones there.
    for (int c = 0; c <= cycle; ++c)
      for (int w = 0; w < crash::transaction_writers; ++w) {
        auto order = "c" + std::to_string(c) + "t" + std::to_string(w);
        auto gen = order_generation(*store, order);
        auto acked_gen = orders.find(order);
        if (acked_gen != orders.end()) {
          INFO("order " << order);
          CHECK(gen >= acked_gen->second);
        }
        ++transaction_checks;
      }
    // Nothing half-written anywhere, acknowledged or not.
    for (auto& s : store->stores) {
      auto page = s->list(list_request{"", "", 0}, 1000);
      REQUIRE(page);
      for (auto& key : page->keys) {
        auto e = store->get(key);
        REQUIRE(e);
        INFO(key);
        CHECK(crash::seq_of(key, e->value));
        if (key.rfind("crash:", 0) == 0 && unique_acks.count(key) == 0)
          unacked_seen.insert(key);
      }
    }
  }
  std::cout << type << " crash test: " << cycles << " SIGKILL cycles, " << acked
            << " acknowledged writes, " << checked
            << " key checks of acknowledged writes (all of them after every kill), "
            << unacked_seen.size()
            << " unacknowledged writes found complete, " << errors
            << " writes refused, " << transactions
            << " acknowledged transactions of "
            << crash::transaction_keys << " keys, " << transaction_checks
            << " all-or-nothing checks of orders, " << backpressure_kills
            << " kills while writes waited for a lagging fold\n";
  CHECK(acked > 0);
  CHECK(transactions > 0);
  CHECK(errors == 0);
}

} // namespace

TEST_CASE("file: every acknowledged write survives SIGKILL at random "
          "moments") {
  run_crash_cycles("file");
}

TEST_CASE("file: every acknowledged write survives SIGKILL while writes "
          "wait for a fold that lags behind them") {
  run_crash_cycles("file-slow-fold", true);
}

#if SOLVER_STATE_WITH_ROCKSDB
TEST_CASE("rocksdb: every acknowledged write survives SIGKILL at random "
          "moments") {
  run_crash_cycles("rocksdb");
}
#endif
