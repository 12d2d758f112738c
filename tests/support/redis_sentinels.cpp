// Test fixture: a Redis master, its replicas and three Sentinels on free
// loopback ports; kills the master and waits for the promotion.

#include "tests/support/redis_sentinels.hpp"

#include <fstream>
#include <stdexcept>

namespace solver_state::testing {

using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

redis_sentinels::redis_sentinels(size_t replicas) {
  cleanup_after_exit("for f in " + dir_.path()
                     + "/*.pid; do kill -9 $(cat $f); done 2>/dev/null;"
                       " rm -rf " + dir_.path());
  for (size_t i = 0; i <= replicas; ++i)
    data_.push_back(std::make_unique<server>());
  for (auto& s : data_)
    s->port = free_loopback_port();
  auto master = data_[0]->port;
  for (auto& s : data_)
    start_data_server(*s, s->port == master ? 0 : master);
  for (size_t i = 0; i < 3; ++i) {
    sentinels_.push_back(std::make_unique<server>());
    sentinels_.back()->port = free_loopback_port();
    start_sentinel(*sentinels_.back(), master, i);
  }
  if (!wait_until([&] { return all_in_sync(replicas); }, 30s))
    throw std::runtime_error(
      "the Sentinels did not see the replicas in sync: "
      + cli(sentinels_[0]->port, {"INFO", "sentinel"})
      + cli(master, {"INFO", "replication"}));
}

redis_sentinels::~redis_sentinels() {
  for (auto& s : sentinels_)
    s->process.stop(SIGKILL);
  for (auto& s : data_)
    if (s->process.running())
      s->process.stop(SIGKILL);
}

void redis_sentinels::start_data_server(server& s, uint16_t master_port) {
  auto name = "redis-" + std::to_string(s.port);
  std::vector<std::string> argv{
    "redis-server", "--port", std::to_string(s.port), "--bind", "127.0.0.1",
    "--save", "", "--appendonly", "no", "--dir", dir_.path(),
    "--dbfilename", name + ".rdb", "--pidfile",
    dir_.path() + "/" + name + ".pid",
    // Redis 7 waits 5 s before a diskless full sync, during which a
    // "connected" replica holds nothing.
    "--repl-diskless-sync-delay", "0"};
  if (master_port != 0) {
    argv.push_back("--replicaof");
    argv.push_back("127.0.0.1");
    argv.push_back(std::to_string(master_port));
  }
  if (!s.process.start(argv, dir_.path() + "/" + name + ".log")
      || !wait_until([&] { return cli(s.port, {"PING"}) == "PONG\n"; }, 10s))
    throw std::runtime_error("redis-server did not start: "
                             + read_text(dir_.path() + "/" + name + ".log"));
}

void redis_sentinels::start_sentinel(server& s, uint16_t master_port,
                                     size_t index) {
  // A Sentinel rewrites its config file: each has its own, writable.
  auto name = "sentinel-" + std::to_string(index);
  auto conf = dir_.path() + "/" + name + ".conf";
  std::ofstream{conf} << "port " << s.port << "\nbind 127.0.0.1\n"
                      << "dir " << dir_.path() << "\npidfile " << dir_.path()
                      << "/" << name << ".pid\n"
                      << "sentinel monitor " << master_name
                      << " 127.0.0.1 " << master_port << " 2\n"
                      << "sentinel down-after-milliseconds " << master_name
                      << " 1000\n"
                      << "sentinel failover-timeout " << master_name
                      << " 5000\n"
                      << "sentinel parallel-syncs " << master_name << " 2\n";
  if (!s.process.start({"redis-server", conf, "--sentinel"},
                       dir_.path() + "/" + name + ".log")
      || !wait_until([&] { return cli(s.port, {"PING"}) == "PONG\n"; }, 10s))
    throw std::runtime_error("redis sentinel did not start: "
                             + read_text(dir_.path() + "/" + name + ".log"));
}

bool redis_sentinels::all_in_sync(size_t replicas) const {
  auto wanted = "slaves=" + std::to_string(replicas) + ",sentinels=3";
  for (auto& s : sentinels_)
    if (!contains(cli(s->port, {"INFO", "sentinel"}), wanted))
      return false;
  // Connected is not enough: a replica holds the data once its first sync
  // is done (state=online).
  auto info = cli(data_[0]->port, {"INFO", "replication"});
  size_t online = 0;
  for (auto at = info.find("state=online"); at != std::string::npos;
       at = info.find("state=online", at + 1))
    ++online;
  return online == replicas;
}

std::string redis_sentinels::url(const std::string& query) const {
  std::string out = "redis-sentinel://";
  for (size_t i = 0; i < sentinels_.size(); ++i)
    out += (i ? "," : "") + std::string{"127.0.0.1:"}
           + std::to_string(sentinels_[i]->port);
  return out + "/" + master_name + "/0" + query;
}

uint16_t redis_sentinels::master_port() const {
  uint16_t agreed = 0;
  for (auto& s : sentinels_) {
    auto out = cli(s->port, {"SENTINEL", "get-master-addr-by-name",
                             master_name});
    auto nl = out.find('\n');
    if (nl == std::string::npos)
      return 0;
    auto port = static_cast<uint16_t>(std::stoi("0" + out.substr(nl + 1)));
    if (agreed != 0 && port != agreed)
      return 0;
    agreed = port;
  }
  return agreed;
}

void redis_sentinels::detach_replicas(uint16_t master) {
  auto nowhere = std::to_string(free_loopback_port());
  for (auto& s : data_)
    if (s->port != master && s->process.running()
        && cli(s->port, {"REPLICAOF", "127.0.0.1", nowhere}) != "OK\n")
      throw std::runtime_error("REPLICAOF failed on port "
                               + std::to_string(s->port));
}

void redis_sentinels::kill(uint16_t port) {
  for (auto& s : data_)
    if (s->port == port)
      s->process.stop(SIGKILL);
}

bool redis_sentinels::wait_for_new_master(
  uint16_t old_port, std::chrono::milliseconds limit) const {
  return wait_until(
    [&] {
      auto port = master_port();
      return port != 0 && port != old_port;
    },
    limit);
}

std::string redis_sentinels::cli(uint16_t port,
                                 const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"redis-cli", "-h", "127.0.0.1", "-p",
                                std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = dir_.path() + "/cli.out";
  std::remove(out.c_str());
  run_command(argv, out);
  return read_text(out);
}

} // namespace solver_state::testing
