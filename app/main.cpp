// build/solver-state: loads the configuration, starts the store and the HTTP
// gateway, and runs until SIGTERM or SIGINT.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/handoff_marker.hpp"
#include "actors/cluster/node.hpp"
#include "actors/cluster/settings.hpp"
#include "actors/store.hpp"
#include "app/descriptors.hpp"
#include "app/exit_deadline.hpp"
#include "app/log_output.hpp"
#include "app/signal_watch.hpp"
#include "backends/connection_url.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "config/auth_token.hpp"
#include "config/cli.hpp"
#include "config/config.hpp"
#include "config/print.hpp"
#include "http/recovery_gate.hpp"
#include "http/server.hpp"
#include "messages/protocol.hpp"
#include "util/allocator.hpp"

using namespace solver_state;

namespace {

constexpr int exit_usage = 2;
constexpr int exit_failure = 1;

/// Sent by the service to itself when a shard failed: it wakes the main
/// thread out of sigwait to shut down and exit non-zero.
constexpr int store_failure_signal = SIGUSR1;

/// Set (on a CAF thread) when a shard failed.
std::atomic<bool> store_failed{false};

/// Blocks SIGTERM, SIGINT, SIGHUP and the store failure signal in every
/// thread (threads inherit the mask), so that only wait_for_signal()
/// receives them: SIGHUP's default action would otherwise kill the process
/// without a log line or a flush.
sigset_t block_service_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, store_failure_signal);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int wait_for_signal(const sigset_t& set) {
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

/// SIGHUP: reopens the log file (log.file, as the service started with it:
/// logrotate moved it) and re-reads log.level from the config file. A file
/// that no longer parses changes nothing; either way the log says so, and
/// the service goes on.
void on_sighup(const std::string& config_path, const std::string& log_file) {
  if (!log_file.empty()) {
    if (auto problem = log_to_file(log_file); problem.empty())
      spdlog::info("SIGHUP: reopened the log file {}", log_file);
    else
      spdlog::warn("SIGHUP: cannot reopen the log file {}, still writing "
                   "to the old one: {}",
                   log_file, problem);
  }
  if (config_path.empty()) {
    spdlog::warn("SIGHUP: no --config file to re-read; log level stays {}",
                 spdlog::level::to_string_view(spdlog::get_level()));
    return;
  }
  auto loaded = load_config_file(config_path);
  if (!loaded.ok()) {
    spdlog::warn("SIGHUP: {} not re-read, nothing changed: {}", config_path,
                 loaded.problems.front());
    return;
  }
  spdlog::set_level(spdlog::level::from_str(loaded.config.log.level));
  spdlog::info("SIGHUP: re-read {}: log.level is {}", config_path,
               loaded.config.log.level);
}

/// The store's bounds from the configuration, and what a failed shard does:
/// the service shuts down and exits non-zero, so that its supervisor
/// restarts it and recovery replays the log (a process that stays up while
/// part of its keys have no owner would answer errors forever).
store_options store_options_for(const service_config& cfg) {
  store_options o;
  o.max_batch_keys = cfg.http.max_batch_keys;
  o.max_reply_bytes = cfg.http.max_reply_bytes;
  o.fan_out_timeout = cfg.http.request_timeout;
  // The process exits once the store has stopped.
  o.memory_to_exit = true;
  o.on_failure = [](const std::string& why) {
    spdlog::critical("{}: shutting down to restart with recovery", why);
    store_failed = true;
    ::kill(::getpid(), store_failure_signal);
  };
  return o;
}

/// CAF workers: as configured, else one per core left after the HTTP io
/// threads, and at least two, so that one long message (a huge batch) cannot
/// stall every actor.
size_t scheduler_threads_for(const service_config& cfg) {
  if (cfg.scheduler_threads != 0)
    return cfg.scheduler_threads;
  size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return std::max<size_t>(2, cores > cfg.http.threads ? cores - cfg.http.threads
                                                      : 1);
}

/// How idle CAF workers wait. CAF 0.17's work stealing spins, then polls
/// 500 times with a 50 us sleep (a syscall and a context switch each), then
/// waits on a condition variable that every job from outside CAF signals.
/// The polling phase burned about 14% of the service's CPU under HTTP load
/// and cost the gateway 10-15% of its throughput on 2 cores
/// (bench/README.md, "HTTP gateway"): skip it. While waiting, a worker
/// wakes to look for work to steal every 10 ms (CAF's default): every
/// millisecond cost an idle service 3.9% of a core (1,800 wakeups a second)
/// against 1.0%, and loads ran no faster for it (bench/README.md, "Idle
/// workers").
void configure_idle_workers(caf::actor_system_config& caf_cfg) {
  caf_cfg.set("work-stealing.moderate-poll-attempts", size_t{1});
  caf_cfg.set("work-stealing.relaxed-sleep-duration",
              caf::timespan{std::chrono::milliseconds{10}});
}

caf::error configure_actor_system(caf::actor_system_config& caf_cfg,
                                  const service_config& cfg) {
  register_message_types(caf_cfg);
  caf_cfg.set("scheduler.max-threads", scheduler_threads_for(cfg));
  configure_idle_workers(caf_cfg);
  // -- distribution: the middleman only when node.listen, peers or members is set
  if (node_enabled(cfg.node))
    return configure_node(caf_cfg, cfg.node);
  return {};
}

/// http.max_connections, lowered (with a warning) to what the descriptor
/// limit leaves room for, after raising that limit as far as it goes.
size_t connections_allowed(size_t configured) {
  auto fds = raise_descriptor_limit();
  if (fds.now > fds.before)
    spdlog::info("descriptors: raised the soft RLIMIT_NOFILE from {} to {} "
                 "(the hard limit)",
                 fds.before, fds.now);
  if (fds.now == 0)
    return configured;
  auto room = connections_within(fds.now);
  if (configured <= room)
    return configured;
  spdlog::warn("http.max_connections={} does not fit RLIMIT_NOFILE={} (the "
               "store needs descriptors too): serving at most {} connections; "
               "raise the limit (ulimit -n, LimitNOFILE=) to serve more",
               configured, fds.now, room);
  return room;
}

/// While the store opens (minutes for a large file store), a stop signal
/// ends the process at once instead of after the open: nothing has been
/// acknowledged yet, and every engine survives an end at any point of its
/// open as it survives SIGKILL. SIGHUP is served as always; a store failure
/// signal is handed back to the main loop (the watch ends).
bool on_signal_while_opening(int sig, const std::string& config_path,
                             const std::string& log_file) {
  if (sig == SIGHUP) {
    on_sighup(config_path, log_file);
  } else if (sig == SIGTERM || sig == SIGINT) {
    spdlog::info("received {} while the store opens: exiting now; the "
                 "next start opens it again",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    // Flushed, not shut down: shutdown() drops the default logger, and
    // a line logged meanwhile by another thread (the store opening,
    // RocksDB's background threads) would find none.
    spdlog::default_logger()->flush();
    std::_Exit(0);
  } else if (sig == store_failure_signal) {
    ::kill(::getpid(), sig); // pending again, for wait_for_signal()
    return false;
  }
  return true;
}

/// Once the service stops, a further SIGTERM or SIGINT cuts the HTTP drain
/// short (requests still being served are not waited for; their clients
/// see the connection close), and nothing else: the store still closes
/// and syncs what it acknowledged before the process exits. Before, such a
/// signal stayed pending, unread: nothing was logged and the drain went on
/// for its 10 s. Found by review. SIGHUP is served as always; a store
/// failure is already recorded (store_failed).
bool on_signal_while_stopping(int sig, http_server& http,
                              const std::string& config_path,
                              const std::string& log_file) {
  if (sig == SIGHUP) {
    on_sighup(config_path, log_file);
  } else if (sig == SIGTERM || sig == SIGINT) {
    auto name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
    if (http.cut_drain())
      spdlog::warn("received {} again: cutting the HTTP drain short; the "
                   "requests still being served are not waited for, the "
                   "store still syncs before the process exits",
                   name);
    else
      spdlog::info("received {} again: the store is closing (its final "
                   "sync), which is not cut short; the process exits once "
                   "it is done",
                   name);
  }
  return true;
}

/// Waits until every shard has exited, so each closed (synced) its backend;
/// false if one did not within `limit`.
bool wait_for_shards(const store_handles& store,
                     std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (store.status->shards_stopped < store.shards.size()) {
    if (std::chrono::steady_clock::now() > until) {
      spdlog::warn("shutdown: {} of {} shards still closing after {} ms",
                   store.shards.size() - store.status->shards_stopped,
                   store.shards.size(), limit.count());
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return true;
}

/// Runs the service until a stop signal or a store failure: an exit code,
/// and in `status` what the store learned before its actors were gone.
int serve(const service_config& cfg, const std::string& config_path,
          const sigset_t& signals, std::shared_ptr<store_status>& status) {
  caf::actor_system_config caf_cfg;
  if (auto err = configure_actor_system(caf_cfg, cfg)) {
    spdlog::critical("cannot configure the node: {}", message_of(err));
    return exit_failure;
  }
  // Destroyed after `sys`: bounds its destruction once armed (below).
  exit_deadline deadline;
  caf::actor_system sys{caf_cfg};
  // The port answers from the start: 503 "recovering" while the store opens
  // (seconds for a large one), then the gateway takes its socket over.
  recovery_gate gate;
  if (auto err = gate.start(cfg.http.listen)) {
    spdlog::critical("cannot start HTTP on {}: {}", cfg.http.listen,
                     message_of(err));
    return exit_failure;
  }
  signal_watch opening{signals, [&](int sig) {
    return on_signal_while_opening(sig, config_path, cfg.log.file);
  }};
  auto store = start_store(sys, cfg.state, compiled_plugins(),
                           store_options_for(cfg));
  opening.finish();
  if (!store) {
    spdlog::critical("cannot start the store: {}", message_of(store.error()));
    return exit_failure;
  }
  status = store->status;
  spdlog::info("store: backend={} shards={} max_items={} eviction={} "
               "ttl_seconds={}",
               store->backend, cfg.state.shards, cfg.state.max_items,
               to_string(cfg.state.eviction), cfg.state.ttl_seconds);
  // -- distribution: with peers or members, clients get the cluster router --
  auto node = start_node(sys, cfg.node, *store,
                         handoff_marker_for(cfg.state, cfg.node));
  if (!node) {
    spdlog::critical("cannot start the node: {}", message_of(node.error()));
    stop_store(*store);
    return exit_failure;
  }
  auto http_cfg = cfg.http;
  http_cfg.max_value_bytes = cfg.state.max_value_bytes;
  http_cfg.max_connections = connections_allowed(cfg.http.max_connections);
  http_server http{sys,
                   http_cfg,
                   node->front,
                   node->metrics,
                   node->front_owners,
                   watch_source{node->hub, cfg.state.watch.heartbeat}};
  // A member serves its own keys while a peer is down: /readyz?scope=local
  // asks its store alone (docs/cluster.md, "When a node fails").
  if (node->guard)
    http.serve_own_share(store->router);
  if (auto err = http.start(gate.hand_over())) {
    spdlog::critical("cannot start HTTP on {}: {}", cfg.http.listen,
                     message_of(err));
    stop_node(sys, *node);
    stop_store(*store);
    return exit_failure;
  }
  auto sig = wait_for_signal(signals);
  for (;; sig = wait_for_signal(signals)) {
    if (sig == SIGHUP)
      on_sighup(config_path, cfg.log.file);
    else if (sig != store_failure_signal || store_failed)
      break;
  }
  if (sig == store_failure_signal)
    spdlog::critical("a shard failed, shutting down");
  else
    spdlog::info("received {}, shutting down",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
  signal_watch stopping{signals, [&](int sig) {
    return on_signal_while_stopping(sig, http, config_path, cfg.log.file);
  }};
  http.stop(std::chrono::seconds{10});
  stop_node(sys, *node);
  stop_store(*store);
  auto code = store_failed ? exit_failure : 0;
  if (wait_for_shards(*store, std::chrono::seconds{30}))
    deadline.arm(std::chrono::seconds{3},
                 store->status->close_failed ? exit_failure : code);
  else
    // A shard still in a backend call 30 s on: the actor system would wait
    // for it for as long as the call takes. What it acknowledged is as
    // durable as the backend made it when it answered, as after a crash.
    deadline.arm(std::chrono::seconds{1}, exit_failure);
  return code;
}

/// A member whose list drops a node it handed off with, without draining
/// it (node.leaving), would serve that node's keys as absent and take new
/// writes of them, later shadowed by the old copies when the node is added
/// back: refused, saying how to go on.
void check_dropped_members(const service_config& cfg,
                           std::vector<std::string>& problems) {
  if (cfg.node.members.empty())
    return;
  auto marker = handoff_marker_for(cfg.state, cfg.node);
  for (auto& name : members_dropped_undrained(marker, cfg.node.members,
                                              cfg.node.leaving))
    problems.push_back(
      "node.members: " + name + " held keys under the member list of this "
      "node's last handoff (" + marker + ") and is neither a member nor in "
      "node.leaving: list it in node.leaving (running) so its keys move "
      "first; if it is gone for good with its keys, or listed under another "
      "name now, delete " + marker + " (this node then pulls every key it "
      "owns again)");
}

/// Every check start-up makes before it connects, in one place:
/// --check-config runs exactly these, so the two accept the same configs,
/// and start-up refuses a config with exit 2 before any actor runs.
std::vector<std::string> preflight(const service_config& cfg) {
  auto problems = check_state_config(compiled_plugins(), cfg.state);
  for (auto& p : check_cluster_storage(compiled_plugins(), cfg.state,
                                       cfg.node))
    problems.push_back(std::move(p));
  check_files(cfg, problems);
  check_dropped_members(cfg, problems);
  // The node's TLS files must also load (certificate and key matching);
  // only read when the node is on, as configure_node() reads them.
  if (problems.empty() && node_enabled(cfg.node) && cfg.node.tls.enabled()) {
    if (cfg.node.tls.ca_file.empty())
      problems.push_back("node.tls.ca_file: required with a certificate");
    else if (auto err = check_tls_files(cfg.node.tls))
      problems.push_back(message_of(err));
  }
  return problems;
}

int run(const service_config& cfg, const std::string& config_path) {
  auto signals = block_service_signals();
  std::shared_ptr<store_status> status;
  // The actor system is gone when serve() returns: every shard has closed
  // its backend, so `status` is final.
  auto rc = serve(cfg, config_path, signals, status);
  if (rc == 0 && status && status->close_failed) {
    spdlog::error("the store did not close cleanly (see above); exiting "
                  "non-zero");
    return exit_failure;
  }
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse_cli({argv + 1, argv + argc});
  if (!opts.error.empty()) {
    std::cerr << "solver-state: " << opts.error << "\n";
    return exit_usage;
  }
  if (opts.help) {
    std::cout << cli_usage();
    return 0;
  }
  if (opts.version) {
    std::cout << version_text() << "allocator: " << allocator_name() << "\n";
    return 0;
  }
  auto loaded = opts.config_path.empty() ? parse_config("")
                                         : load_config_file(opts.config_path);
  apply_environment(loaded.config);
  // parse_config checked the file's token; the environment's replaces it.
  if (auto* token = std::getenv("SOLVER_STATE_AUTH_TOKEN"); token && *token)
    if (auto why = auth_token_problem(token); !why.empty())
      loaded.problems.push_back("SOLVER_STATE_AUTH_TOKEN: " + why);
  if (!opts.listen.empty()) {
    // --listen replaces http.listen, so only its own validity counts.
    auto& problems = loaded.problems;
    problems.erase(std::remove_if(problems.begin(), problems.end(),
                                  [](const std::string& p) {
                                    return p.rfind("http.listen:", 0) == 0;
                                  }),
                   problems.end());
    loaded.config.http.listen = opts.listen;
    std::string host;
    uint16_t port = 0;
    if (!split_host_port(opts.listen, host, port))
      problems.push_back("--listen: must be host:port, got '" + opts.listen
                         + "'");
  }
  loaded.config.state.file.recover_truncate_log = opts.recover_truncate_log;
  if (loaded.ok() && opts.print_config) {
    std::cout << to_yaml(loaded.config);
    return 0;
  }
  if (loaded.ok())
    loaded.problems = preflight(loaded.config);
  if (!loaded.ok()) {
    for (auto& problem : loaded.problems)
      std::cerr << "solver-state: config: " << problem << "\n";
    return exit_usage;
  }
  auto warnings = config_warnings(loaded.config);
  if (opts.check_config) {
    for (auto& warning : warnings)
      std::cerr << "solver-state: warning: " << warning << "\n";
    std::cout << "configuration ok\n";
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(loaded.config.log.level));
  use_log_format(loaded.config.log.format);
  if (!loaded.config.log.file.empty()) {
    if (auto problem = log_to_file(loaded.config.log.file); !problem.empty()) {
      std::cerr << "solver-state: config: log.file: cannot open '"
                << loaded.config.log.file << "': " << problem << "\n";
      return exit_usage;
    }
  }
  spdlog::info("solver-state starting: http={} state.type={} allocator=\"{}\"",
               loaded.config.http.listen,
               redact_password(loaded.config.state.type), allocator_name());
  for (auto& warning : warnings)
    spdlog::warn("config: {}", warning);
  auto rc = run(loaded.config, opts.config_path);
  spdlog::info("solver-state stopped");
  return rc;
}
