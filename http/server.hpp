#pragma once

// The HTTP/JSON gateway: a Boost.Beast async server translating the HTTP API
// v1 (docs/api.md) into state actor messages. Its io threads never wait on a CAF
// reply.

#include <chrono>
#include <cstdint>
#include <memory>

#include <caf/error.hpp>
#include <caf/fwd.hpp>

#include "actors/key_router.hpp"
#include "config/config.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// Where GET /v1/watch subscribes: the node's watch hub (none: 503), and
/// how often an idle stream sends a heartbeat (state.watch.heartbeat).
struct watch_source {
  watch_hub_actor hub;
  std::chrono::milliseconds heartbeat{10'000};
};

class http_server {
public:
  /// With `owners` (the store's shards, when `store` is their local router),
  /// single-key requests go straight to the owning shard.
  http_server(caf::actor_system& sys, http_config cfg, state_actor store,
              metrics_actor metrics, ownership_ptr<state_actor> owners = {},
              watch_source watches = {});
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Answers GET /readyz?scope=local from `own`, the node's own store (a
  /// member of a cluster). Before start().
  void serve_own_share(state_actor own);

  /// Binds http.listen and starts the io threads; an error if it cannot bind.
  /// With `listening_fd` (recovery_gate::hand_over()), serves that socket,
  /// already bound to http.listen, instead.
  caf::error start(int listening_fd = -1);

  /// The bound port (useful with port 0).
  uint16_t port() const;

  /// Stops accepting, answers 503 to requests still being read from their
  /// clients, lets those being served finish for up to `drain` (or until
  /// cut_drain()), closes every connection and joins the io threads.
  void stop(std::chrono::milliseconds drain);

  /// Thread-safe: a stop() under way, or the next, waits no longer for
  /// busy connections (an operator's second stop signal). False when the
  /// drain was over already.
  bool cut_drain();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace solver_state
