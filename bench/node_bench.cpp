// Remote throughput over loopback against the same operations in process,
// in one run: single-key gets with a window of 128 outstanding requests, and
// batch_get of 100 keys with 8 batches outstanding.
//
//   in-process : the local router of a store in this process
//   cluster    : a cluster router in this process (node.peers = one store
//                node process); what a solver or the HTTP gateway of a front
//                node uses
//   direct     : the store node's published router, via remote_actor
//   cluster-m, direct-m: the same against a second store node that is a
//                member (node.members), which publishes its member guard
//                (the ownership and handoff check) instead of its router:
//                what that check costs in steady state
//
// Usage: build/bench/node_bench [--quick]. Starts build/solver-state as the
// two store nodes on free loopback ports and stops them at the end.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/cluster/node.hpp"
#include "actors/cluster/settings.hpp"
#include "actors/cluster/transport.hpp"
#include "actors/store.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/errors.hpp"
#include "messages/protocol.hpp"

using namespace solver_state;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr size_t key_count = 10'000;
constexpr size_t single_window = 128;
constexpr size_t batch_window = 32;
constexpr size_t batch_size = 100;

std::string key_of(size_t i) {
  return "state:bench:k" + std::to_string(i);
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// The store node: build/solver-state with node.listen, killed at exit. A
/// member (node.members naming only itself) publishes its member guard, the
/// ownership and handoff check in front of its store, instead of its
/// router.
struct store_process {
  pid_t pid = -1;
  uint16_t port = free_port();
  std::string dir;

  explicit store_process(bool member = false) {
    char tmpl[] = "/tmp/node-bench-XXXXXX";
    dir = mkdtemp(tmpl);
    auto config = dir + "/store.yaml";
    std::ofstream{config} << "state:\n  type: memory\n  max_items: 0\n"
                          << "http:\n  listen: \"127.0.0.1:"
                          << free_port() << "\"\nnode:\n  listen: \"127.0.0.1:"
                          << port << "\"\n"
                          << (member ? "  members: [\"127.0.0.1:"
                                         + std::to_string(port) + "\"]\n"
                                     : std::string{})
                          << "log:\n  level: warn\n";
    pid = ::fork();
    if (pid == 0) {
      auto bin = std::string{SOLVER_STATE_BINARY_DIR} + "/solver-state";
      ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }

  ~store_process() {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::remove((dir + "/store.yaml").c_str());
    ::rmdir(dir.c_str());
  }
};

/// Keeps `window` requests outstanding until `total` replies arrived, then
/// reports the elapsed time (or the first error) to `report`.
template <class Reply, class MakeRequest>
void driver(caf::event_based_actor* self, state_actor target, size_t total,
            size_t window, MakeRequest make, caf::actor report) {
  struct progress {
    size_t sent = 0;
    size_t done = 0;
    bool failed = false;
    clock_type::time_point start = clock_type::now();
  };
  auto p = std::make_shared<progress>();
  auto next = std::make_shared<std::function<void()>>();
  *next = [=] {
    auto i = p->sent++;
    make(i, [&](auto&&... xs) {
      self->request(target, 10s, std::forward<decltype(xs)>(xs)...)
        .then(
          [=](Reply&) {
            if (++p->done == total) {
              auto took = clock_type::now() - p->start;
              self->send(report, std::chrono::duration<double>(took).count());
              self->quit();
            } else if (p->sent < total) {
              (*next)();
            }
          },
          [=](caf::error& err) {
            if (!p->failed) {
              p->failed = true;
              self->send(report, message_of(err));
              self->quit();
            }
          });
    });
  };
  for (size_t i = 0; i < window && i < total; ++i)
    (*next)();
}

/// Runs one driver and returns operations per second (0 on error).
template <class Reply, class MakeRequest>
double measure(caf::actor_system& sys, const state_actor& target, size_t total,
               size_t window, MakeRequest make) {
  caf::scoped_actor self{sys};
  sys.spawn(driver<Reply, MakeRequest>, target, total, window, make,
            caf::actor{self});
  double ops = 0;
  self->receive([&](double seconds) { ops = total / seconds; },
                [&](std::string& err) {
                  std::fprintf(stderr, "  error: %s\n", err.c_str());
                });
  return ops;
}

double single_gets(caf::actor_system& sys, const state_actor& target,
                   size_t total) {
  return measure<entry>(sys, target, total, single_window,
                        [](size_t i, auto send) {
                          send(get_atom_v, key_of(i % key_count));
                        });
}

double batch_gets(caf::actor_system& sys, const state_actor& target,
                  size_t batches) {
  return batch_size
         * measure<batch_reply>(sys, target, batches, batch_window,
                                [](size_t i, auto send) {
                                  batch_request req;
                                  req.keys.reserve(batch_size);
                                  for (size_t j = 0; j < batch_size; ++j)
                                    req.keys.push_back(key_of(
                                      (i * batch_size + j * 37) % key_count));
                                  send(batch_get_atom_v, std::move(req));
                                });
}

void preload(caf::actor_system& sys, const state_actor& target) {
  caf::scoped_actor self{sys};
  for (size_t i = 0; i < key_count; ++i)
    self->request(target, 10s, put_atom_v,
                  set_request{key_of(i), std::string(100, 'v'), 0, {}})
      .receive([](const write_result&) {},
               [&](caf::error& err) {
                 std::fprintf(stderr, "fill failed: %s\n",
                              message_of(err).c_str());
                 std::exit(1);
               });
}

bool wait_healthy(caf::actor_system& sys, const state_actor& target) {
  for (int i = 0; i < 200; ++i) {
    caf::scoped_actor self{sys};
    bool ok = false;
    self->request(target, 1s, health_atom_v)
      .receive([&](health_report&) { ok = true; }, [](caf::error&) {});
    if (ok)
      return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  size_t singles = quick ? 50'000 : 300'000;
  size_t batches = quick ? 2'000 : 20'000;
  store_process store;
  store_process member{true};
  caf::actor_system_config cfg;
  register_message_types(cfg);
  cfg.set("scheduler.max-threads", size_t{2});
  node_config node;
  node.peers = {"127.0.0.1:" + std::to_string(store.port)};
  if (auto err = configure_node(cfg, node)) {
    std::fprintf(stderr, "%s\n", message_of(err).c_str());
    return 1;
  }
  caf::actor_system sys{cfg};
  state_config local_cfg;
  local_cfg.type = "memory";
  local_cfg.max_items = 0;
  auto local = start_store(sys, local_cfg, compiled_plugins());
  auto cluster = start_node(sys, node, *local);
  if (!local || !cluster) {
    std::fprintf(stderr, "cannot start the store or the node\n");
    return 1;
  }
  if (!wait_healthy(sys, cluster->front)) {
    std::fprintf(stderr, "the store node did not come up\n");
    return 1;
  }
  node_config member_node;
  member_node.peers = {"127.0.0.1:" + std::to_string(member.port)};
  auto member_cluster = start_node(sys, member_node, *local);
  if (!member_cluster || !wait_healthy(sys, member_cluster->front)) {
    std::fprintf(stderr, "the member node did not come up\n");
    return 1;
  }
  auto direct = connect_state(sys, "127.0.0.1", store.port, false);
  auto direct_member = connect_state(sys, "127.0.0.1", member.port, false);
  if (!direct || !direct_member) {
    std::fprintf(stderr, "cannot connect: %s\n",
                 sys.render(direct ? direct_member.error() : direct.error())
                   .c_str());
    return 1;
  }
  preload(sys, local->router);
  preload(sys, cluster->front);
  preload(sys, member_cluster->front);
  std::printf("node_bench: %zu keys of 100 bytes; single-key window %zu, "
              "batches of %zu keys with %zu outstanding; %u cores\n",
              key_count, single_window, batch_size, batch_window,
              std::thread::hardware_concurrency());
  struct target {
    const char* name;
    state_actor handle;
  };
  std::vector<target> targets{{"in-process", local->router},
                              {"cluster", cluster->front},
                              {"direct", *direct},
                              {"cluster-m", member_cluster->front},
                              {"direct-m", *direct_member}};
  std::vector<double> single(targets.size()), batch(targets.size());
  for (size_t t = 0; t < targets.size(); ++t) {
    single[t] = single_gets(sys, targets[t].handle, singles);
    batch[t] = batch_gets(sys, targets[t].handle, batches);
  }
  std::printf("%-12s %18s %10s %20s %10s\n", "target", "single ops/s",
              "vs local", "batched keys/s", "vs local");
  for (size_t t = 0; t < targets.size(); ++t)
    std::printf("%-12s %18.0f %9.3fx %20.0f %9.3fx\n", targets[t].name,
                single[t], single[t] / single[0], batch[t],
                batch[t] / batch[0]);
  stop_node(sys, *cluster);
  stop_node(sys, *member_cluster);
  stop_store(*local);
  return 0;
}
