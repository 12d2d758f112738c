// http_server: binds http.listen, runs the io threads, sends request counts
// to the metrics actor every second, and drains connections on stop.

#include "http/server.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "http/api.hpp"
#include "http/connection_context.hpp"
#include "http/listener.hpp"
#include "http/request_stats.hpp"
#include "http/session.hpp"
#include "http/store_bridge.hpp"
#include "http/watch_stream.hpp"

namespace solver_state {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace gateway;

namespace {

constexpr std::chrono::seconds stats_interval{1};

/// The endpoint of "host:port"; hostnames other than IP literals are looked
/// up once, here at start.
/// The configured limits; the rest keep connection_limits' defaults.
connection_limits limits_of(const http_config& cfg) {
  connection_limits limits;
  limits.max_body_bytes = cfg.max_body_bytes;
  limits.max_import_bytes = cfg.max_import_bytes;
  limits.max_connections = cfg.max_connections;
  limits.read_timeout = cfg.read_timeout;
  limits.first_byte_timeout = cfg.first_byte_timeout;
  limits.request_timeout = cfg.request_timeout;
  limits.access_log = cfg.access_log;
  return limits;
}

/// Runs an io thread until its io_context stops. An exception out of one
/// connection's handler (a bad_alloc under an address-space limit) costs
/// that connection, whose handler is gone with its state, not the process:
/// the thread goes on serving the others.
void run_io(net::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("http: a connection's handler failed ({}): the "
                    "connection is dropped, the others are served",
                    e.what());
    }
  }
}

} // namespace

/// Everything the io threads and the connections use, destroyed with the
/// server. A store call's callback holds a connection, and a connection must
/// never outlive its io_context: stop() ends every call (store_bridge::stop)
/// before this goes.
struct io_core {
  io_core(const http_config& cfg, store_bridge& bridge, state_actor store,
          metrics_actor metrics, ownership_ptr<state_actor> owners)
    : handlers(bridge, std::move(store), std::move(owners),
               std::move(metrics), cfg.auth_token,
               handler_limits{cfg.max_batch_keys, cfg.max_value_bytes,
                              cfg.max_reply_bytes}),
      ctx{limits_of(cfg),   handlers, stats, bridge, cfg.auth_token,
          {false},          {},       reply_budget{cfg.max_pending_reply_bytes},
          body_budget{cfg.max_pending_body_bytes}},
      ioc(static_cast<int>(cfg.threads)),
      work(net::make_work_guard(ioc)),
      flush_timer(ioc) {
  }

  // Declaration order is destruction order reversed: the io_context (and the
  // sessions its handlers hold) goes before the context they point to.
  request_stats stats;
  /// The watch streams' links: revoked once the io threads are gone.
  watch_links watches;
  api handlers;
  connection_context ctx;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work;
  net::steady_timer flush_timer;
  std::shared_ptr<listener> acceptor;
};

struct http_server::impl {
  impl(caf::actor_system& sys, http_config config, state_actor store,
       metrics_actor metrics, ownership_ptr<state_actor> owners,
       watch_source watches)
    : cfg(std::move(config)),
      metrics(metrics),
      // A cancelled call's slot waits this long for the store's reply
      // before it is given up as lost: far past any reply the store is
      // still working on.
      bridge(sys, cfg.max_in_flight,
             std::max(10 * cfg.request_timeout,
                      store_bridge::default_lost_after)),
      core(std::make_unique<io_core>(cfg, bridge, std::move(store),
                                     std::move(metrics), std::move(owners))) {
    gateway::watch_env watch;
    watch.sys = &sys;
    watch.hub = std::move(watches.hub);
    watch.links = &core->watches;
    watch.heartbeat = watches.heartbeat;
    // The connection's own write timeout (read_timeout) closes a stream
    // whose client took nothing; this is the stream actor's backstop.
    watch.write_limit = cfg.read_timeout + watches.heartbeat;
    core->handlers.serve_watches(std::move(watch));
  }

  ~impl() { stop(std::chrono::milliseconds{0}); }

  caf::error start(int listening_fd);
  void stop(std::chrono::milliseconds drain);
  bool cut_drain();
  void arm_flush();
  void flush_stats();

  http_config cfg;
  metrics_actor metrics;
  store_bridge bridge;
  std::unique_ptr<io_core> core;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool running = false;
  /// Set by cut_drain(): stop() ends its wait for busy connections.
  std::atomic<bool> drain_cut{false};
  /// stop() has ended its wait for busy connections.
  std::atomic<bool> drain_over{false};
};

caf::error http_server::impl::start(int listening_fd) {
  auto ep = endpoint_of(cfg.listen);
  if (!ep)
    return std::move(ep.error());
  auto& c = *core;
  c.acceptor = std::make_shared<listener>(c.ioc, c.ctx);
  if (auto ec = listening_fd >= 0 ? c.acceptor->adopt(*ep, listening_fd)
                                  : c.acceptor->open(*ep))
    return make_state_error(state_errc::io_error,
                            "http.listen: cannot listen on " + cfg.listen
                              + ": " + ec.message());
  port = c.acceptor->port();
  c.acceptor->run();
  arm_flush();
  for (size_t i = 0; i < cfg.threads; ++i)
    threads.emplace_back([&c] { run_io(c.ioc); });
  running = true;
  spdlog::info("http: listening on {}:{} threads={} max_in_flight={} "
               "max_body_bytes={} read_timeout_ms={} "
               "first_byte_timeout_ms={} request_timeout_ms={} auth={}",
               ep->address().to_string(), port, cfg.threads,
               cfg.max_in_flight, cfg.max_body_bytes,
               cfg.read_timeout.count(),
               std::min(cfg.first_byte_timeout, cfg.read_timeout).count(),
               cfg.request_timeout.count(),
               cfg.auth_token.empty() ? "off" : "bearer");
  return {};
}

bool http_server::impl::cut_drain() {
  drain_cut = true;
  return !drain_over;
}

void http_server::impl::arm_flush() {
  core->flush_timer.expires_after(stats_interval);
  core->flush_timer.async_wait([this](boost::system::error_code ec) {
    if (ec)
      return;
    flush_stats();
    arm_flush();
  });
}

void http_server::impl::flush_stats() {
  auto report = core->stats.take();
  report.connections = core->ctx.registry.size();
  report.pending_reply_bytes = core->ctx.replies.held();
  report.calls_in_flight = bridge.in_flight();
  report.calls_abandoned = bridge.abandoned();
  if (metrics)
    caf::anon_send(metrics, report_atom_v, std::move(report));
}

void http_server::impl::stop(std::chrono::milliseconds drain) {
  if (!running)
    return;
  running = false;
  auto& c = *core;
  c.ctx.stopping = true;
  c.acceptor->close();
  for (auto& s : c.ctx.registry.snapshot())
    s->shut_down();
  auto deadline = std::chrono::steady_clock::now() + drain;
  while (c.ctx.registry.size() > 0
         && std::chrono::steady_clock::now() < deadline && !drain_cut)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  drain_over = true;
  if (auto n = c.ctx.registry.size(); n > 0)
    spdlog::warn("http: closing {} connections still busy after {}", n,
                 drain_cut ? "the drain was cut short" : "drain");
  net::post(c.ioc, [&c] { c.flush_timer.cancel(); });
  c.work.reset();
  c.ioc.stop();
  for (auto& t : threads)
    t.join();
  threads.clear();
  flush_stats();
  // A watch stream's actor may still hold its connection: let go of them
  // all while the io_context they belong to still exists.
  c.watches.revoke_all();
  // The drain above waited for the calls too (a connection waiting for the
  // store stays registered until its answer or its 504). With the io threads
  // gone a later answer could not reach its client anyway: cancel what is
  // left, so no CAF thread holds a connection when the io_context goes.
  bridge.stop(std::chrono::milliseconds{0});
  spdlog::info("http: stopped");
}

// -- http_server ----------------------------------------------------------------

http_server::http_server(caf::actor_system& sys, http_config cfg,
                         state_actor store, metrics_actor metrics,
                         ownership_ptr<state_actor> owners,
                         watch_source watches)
  : impl_(std::make_unique<impl>(sys, std::move(cfg), std::move(store),
                                 std::move(metrics), std::move(owners),
                                 std::move(watches))) {
}

http_server::~http_server() = default;

void http_server::serve_own_share(state_actor own) {
  impl_->core->handlers.serve_own_share(std::move(own));
}

caf::error http_server::start(int listening_fd) {
  return impl_->start(listening_fd);
}

uint16_t http_server::port() const {
  return impl_->port;
}


void http_server::stop(std::chrono::milliseconds drain) {
  impl_->stop(drain);
}

bool http_server::cut_drain() {
  return impl_->cut_drain();
}

} // namespace solver_state
