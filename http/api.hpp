#pragma once

// The request dispatcher: authentication, routing, method checks, then the
// route's handler. Shared by every connection; holds no per-request state.

#include <optional>
#include <string>

#include "http/handlers.hpp"
#include "http/message.hpp"
#include "http/routes.hpp"

namespace solver_state::gateway {

class api {
public:
  api(store_bridge& bridge, state_actor store,
      ownership_ptr<state_actor> owners, metrics_actor metrics,
      std::string auth_token, handler_limits limits = {});

  /// Serves GET /v1/watch (without it: 503).
  void serve_watches(watch_env watch) { env_.watch = std::move(watch); }

  /// Answers GET /readyz?scope=local from `own`, the node's own store.
  void serve_own_share(state_actor own) { env_.own_share = std::move(own); }

  /// Resolves the request's target (pure, cheap): the route is known before
  /// any answer, for metrics and the access log.
  route_match resolve(const request_t& req) const;

  /// Serves one request: the answer goes to `sink`, at once or later from a
  /// CAF thread.
  void serve(request_t& req, route_match m, const sink_ptr& sink) const;

  /// The answer of a request refused before any handler runs (docs/api.md,
  /// "Order of checks"): 401 without the token, 400 for a malformed
  /// target, 404 for an unknown path, 405 for a method the route does not
  /// take; nullopt when a handler is to answer. Needs the header only, so
  /// the connection can answer before reading a body.
  std::optional<response_t> refusal(const request_t& req,
                                    const route_match& m) const;

private:
  bool authorized(const request_t& req) const;

  handler_env env_;
  std::string auth_token_;
};

} // namespace solver_state::gateway
