#pragma once

// Test support for distribution tests: temp dirs, free loopback ports,
// solver-state processes started from generated YAML, and a blocking ask()
// for test code (never used inside actors).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/cluster/settings.hpp"
#include "actors/cluster/transport.hpp"
#include "messages/errors.hpp"
#include "messages/interfaces.hpp"
#include "messages/protocol.hpp"

namespace node_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "solver-node-XXXXXX");
    if (!mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// A loopback port that is free now and that this process has not handed
/// out before (a test picks several ports before any is bound: a node's
/// node.listen and http.listen). Picked below the kernel's ephemeral range
/// (32768-60999 by default): a port from that range, free when picked, can
/// be taken as the source port of any process's outgoing connection before
/// the node binds it, or by a peer polling it that connects to itself (TCP
/// simultaneous open): the likely cause of a front node that once never
/// saw its store nodes in CI.
inline uint16_t free_port() {
  static std::set<uint16_t> handed_out;
  static std::mt19937 rng{std::random_device{}()};
  while (true) {
    auto port = static_cast<uint16_t>(20'000 + rng() % 12'000);
    if (handed_out.count(port))
      continue;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool free = fd >= 0
                && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                     == 0;
    if (fd >= 0)
      ::close(fd);
    if (free) {
      handed_out.insert(port);
      return port;
    }
  }
}

inline bool accepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0;
  ::close(fd);
  return ok;
}

inline std::string endpoint(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// One build/solver-state process with its own config file and log.
class node_process {
public:
  node_process(fs::path dir, std::string name, std::string yaml,
               uint16_t node_port)
    : dir_(std::move(dir)), name_(std::move(name)), node_port_(node_port) {
    auto config = dir_ / (name_ + ".yaml");
    log_ = dir_ / (name_ + ".log");
    std::ofstream{config} << yaml;
    argv_ = {std::string{SOLVER_STATE_BINARY_DIR} + "/solver-state",
             "--config", config.string()};
  }

  /// Any other program of the build tree, e.g. tests/node_echo PORT.
  node_process(fs::path dir, std::string name, std::vector<std::string> argv,
               uint16_t node_port)
    : dir_(std::move(dir)), name_(std::move(name)), argv_(std::move(argv)),
      node_port_(node_port) {
    log_ = dir_ / (name_ + ".log");
  }

  ~node_process() {
    signal(SIGCONT);
    kill(SIGKILL);
  }

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// Starts the process and waits until node.listen accepts connections.
  void start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      auto fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (auto& a : argv_)
        args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!accepts(node_port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error(name_ + " exited at start:\n" + log());
      }
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(name_ + " did not listen:\n" + log());
      std::this_thread::sleep_for(20ms);
    }
  }

  /// Sends `sig` and reaps the process.
  void kill(int sig) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  /// Sends `sig` without waiting (SIGSTOP freezes the node: its sockets stay
  /// open but nothing answers, like a hung or partitioned machine).
  /// Sends `sig`. kill() returns before a SIGSTOP has taken effect (a
  /// thread running on the other core may still answer one more message),
  /// so after SIGSTOP this waits until every thread of the process is
  /// stopped.
  void signal(int sig) {
    if (pid_ <= 0)
      return;
    ::kill(pid_, sig);
    if (sig != SIGSTOP)
      return;
    for (int i = 0; i < 1000 && !all_threads_stopped(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }

  bool all_threads_stopped() const {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto dir = "/proc/" + std::to_string(pid_) + "/task";
    for (auto& task : fs::directory_iterator{dir, ec}) {
      std::ifstream stat{task.path() / "stat"};
      std::string text{std::istreambuf_iterator<char>{stat}, {}};
      auto close = text.rfind(')'); // the state follows "(comm) "
      if (close == std::string::npos || close + 2 >= text.size()
          || (text[close + 2] != 'T' && text[close + 2] != 't'))
        return false;
    }
    return !ec;
  }

  /// Sends `sig` and reaps the process if it exits within `limit`; false
  /// if it is still running then (the destructor kills it).
  bool stops_within(int sig, std::chrono::milliseconds limit) {
    if (pid_ <= 0)
      return true;
    ::kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + limit;
    do {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }

  std::string log() const { return slurp(log_); }
  uint16_t node_port() const { return node_port_; }

  /// The HTTP port the node listens on, from its log: the test configs
  /// listen on port 0, so no port picked ahead can be taken by another
  /// process meanwhile (as happened on CI). 0 if it never says.
  uint16_t http_port() {
    const std::string said = "http: listening on 127.0.0.1:";
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (http_port_ == 0 && std::chrono::steady_clock::now() < deadline) {
      auto text = log();
      if (auto at = text.find(said); at != std::string::npos)
        http_port_ = static_cast<uint16_t>(
          std::stoul(text.substr(at + said.size(), 5)));
      else
        std::this_thread::sleep_for(20ms);
    }
    return http_port_;
  }
  std::string node_endpoint() const { return endpoint(node_port_); }

private:
  fs::path dir_;
  std::string name_;
  std::vector<std::string> argv_;
  fs::path log_;
  uint16_t node_port_;
  uint16_t http_port_ = 0;
  pid_t pid_ = -1;
};

/// A loopback port that drops every connection attempt, as a machine that
/// is powered off or cut off by a partition: a listener with a backlog of 0
/// that never accepts, its accept queue filled by connections of its own,
/// so the kernel drops further SYNs and a connect() to it waits for its
/// SYN retries (about two minutes) instead of being refused.
struct black_hole {
  int listener = -1;
  std::vector<int> fillers;
  uint16_t port = 0;

  black_hole() {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
        || ::listen(listener, 0) != 0)
      throw std::runtime_error("black_hole: cannot listen");
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    // A backlog of 0 admits one connection; a few more make sure the queue
    // is full (each non-blocking connect that cannot enter just waits).
    for (int i = 0; i < 3; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers.push_back(c);
    }
    std::this_thread::sleep_for(100ms);
  }

  /// Whether a connect() to it fails to complete within `limit` (checks
  /// that the kernel drops SYNs here as the test means it to).
  bool drops_within(std::chrono::milliseconds limit) const {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bool done = ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
                == 0;
    if (!done) {
      pollfd p{c, POLLOUT, 0};
      done = ::poll(&p, 1, static_cast<int>(limit.count())) == 1;
    }
    ::close(c);
    return !done;
  }

  ~black_hole() {
    for (int c : fillers)
      ::close(c);
    ::close(listener);
  }
};

/// YAML of a store node: memory backend (each test node is its own store),
/// HTTP and node.listen on loopback (HTTP on `http_port`, by default any:
/// node_process::http_port() tells).
inline std::string store_yaml(uint16_t node_port,
                              const std::string& extra_node = "",
                              uint16_t http_port = 0) {
  return "state:\n  type: memory\n"
         "http:\n  listen: \""
         + endpoint(http_port) + "\"\n"
         + "node:\n  listen: \"" + endpoint(node_port) + "\"\n"
         + "  heartbeat_interval: 200ms\n" + extra_node;
}

/// YAML of a front node publishing its cluster router over `peers`.
inline std::string front_yaml(uint16_t node_port,
                              const std::vector<uint16_t>& peers,
                              const std::string& timeout = "1s",
                              uint16_t http_port = 0) {
  std::string list;
  for (auto p : peers)
    list += "\n    - \"" + endpoint(p) + "\"";
  return "state:\n  type: memory\n"
         "http:\n  listen: \""
         + endpoint(http_port) + "\"\n"
         + "node:\n  listen: \"" + endpoint(node_port) + "\"\n"
         + "  request_timeout: " + timeout + "\n"
         + "  heartbeat_interval: 200ms\n  peers:" + list + "\n";
}

/// Runs curl against loopback `port` and returns "STATUS BODY".
inline std::string curl(uint16_t port, const std::string& args,
                        const std::string& path) {
  auto cmd = "curl -s -m 10 -w ' %{http_code}' " + args + " 'http://"
             + endpoint(port) + path + "'";
  std::string out;
  if (auto pipe = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
      out.append(buf, n);
    ::pclose(pipe);
  }
  // curl prints the body, then " STATUS": move the status to the front.
  auto cut = out.rfind(' ');
  if (cut == std::string::npos)
    return out;
  return out.substr(cut + 1) + " " + out.substr(0, cut);
}

/// One request from test code, waiting at most `timeout`.
template <class Reply, class Handle, class... Ts>
caf::expected<Reply> ask(caf::actor_system& sys, const Handle& dest,
                         std::chrono::milliseconds timeout, Ts... xs) {
  caf::scoped_actor self{sys};
  caf::expected<Reply> result{caf::error{}};
  self->request(dest, timeout, std::move(xs)...)
    .receive([&](Reply& r) { result = std::move(r); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Polls `f` until it returns true or `limit` passes.
template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 15s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f())
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return f();
}

} // namespace node_test

namespace node_test {

/// An actor system that can talk to solver-state nodes, as a solver process
/// would configure it.
struct client_system {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  explicit client_system(solver_state::node_config node = {})
    : sys(prepare(cfg, node)) {
  }

  static caf::actor_system_config& prepare(caf::actor_system_config& cfg,
                                           solver_state::node_config& node) {
    solver_state::register_message_types(cfg);
    cfg.set("scheduler.max-threads", size_t{2});
    if (auto err = solver_state::configure_node(cfg, node))
      throw std::runtime_error(solver_state::message_of(err));
    return cfg;
  }

  /// Connects to the state actor a node publishes on loopback `port`.
  caf::expected<solver_state::state_actor> connect(uint16_t port,
                                                   bool tls = false) {
    return solver_state::connect_state(sys, "127.0.0.1", port, tls);
  }
};

} // namespace node_test
