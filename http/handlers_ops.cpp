// Handlers of /healthz, /readyz and /metrics, the shared 503 answer when
// http.max_in_flight is reached (and the operators' own when theirs are),
// where a single-key request goes, and the no-query-parameters check.

#include "http/handlers.hpp"

#include "http/json_codec.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"

namespace solver_state::gateway {

response_t overloaded(const handler_env& env) {
  auto res = error_response(state_errc::backend_unavailable,
                            "too many requests in flight (http.max_in_flight="
                              + std::to_string(env.bridge.max_in_flight())
                              + ")");
  res.set(bhttp::field::retry_after, "1");
  return res;
}

namespace {

/// 503 when every slot of an operator's class of calls waits: those slots
/// are apart from http.max_in_flight, which the answer blamed while the
/// store calls were 0. Found by review.
response_t ops_overloaded(const handler_env& env,
                          store_bridge::call_class which,
                          const std::string& requests,
                          const std::string& answerer) {
  auto n = std::to_string(env.bridge.slots_of(which));
  auto res = error_response(state_errc::backend_unavailable,
                            n + " " + requests + " already wait for "
                              + answerer + " (the " + n + " places they "
                              "have apart from http.max_in_flight); retry "
                              "shortly");
  res.set(bhttp::field::retry_after, "1");
  return res;
}

} // namespace

const state_actor& owner_of(const handler_env& env, std::string_view key) {
  if (!env.owners)
    return env.store;
  return env.owners->owners[env.owners->owner_of_key(key)];
}

bool reject_query(const route_match& m, const sink_ptr& sink) {
  if (m.query.empty())
    return false;
  sink->reply(error_response(state_errc::bad_request,
                             "unknown query parameter '" + m.query[0].name
                               + "'"));
  return true;
}

bool read_skip_unreadable(const query_param& q, bool& skip,
                          std::string& problem) {
  if (q.name != "skip_unreadable")
    return false;
  if (q.value == "true" || q.value == "false")
    skip = q.value == "true";
  else
    problem = "skip_unreadable must be true or false";
  return true;
}

std::optional<std::string> prefix_param(const route_match& m,
                                        const sink_ptr& sink) {
  std::string prefix;
  for (auto& q : m.query) {
    if (q.name != "prefix") {
      sink->reply(error_response(state_errc::bad_request,
                                 "unknown query parameter '" + q.name + "'"));
      return std::nullopt;
    }
    prefix = q.value;
  }
  return prefix;
}

void healthz(const sink_ptr& sink) {
  sink->reply(json_response(200, status_body("ok")));
}

namespace {

/// The `scope` of GET /readyz: true for "local", false for "cluster" or
/// none; nullopt (and a 400 sent) for anything else. Other parameters are
/// ignored, as probes may add their own.
std::optional<bool> own_share_scope(const route_match& m,
                                    const sink_ptr& sink) {
  for (auto& q : m.query) {
    if (q.name != "scope")
      continue;
    if (q.value == "local" || q.value == "cluster")
      return q.value == "local";
    sink->reply(error_response(state_errc::bad_request,
                               "scope must be local or cluster"));
    return std::nullopt;
  }
  return false;
}

} // namespace

void readyz(const handler_env& env, const route_match& m,
            const sink_ptr& sink) {
  auto local = own_share_scope(m, sink);
  if (!local)
    return;
  // Asked for its own share, a member answers for its own store: a peer's
  // death leaves it serving its keys, and a load balancer that picks
  // members by this keeps it. A node without a share of its own (a pure
  // front) serves only through its peers: it answers for them all.
  bool own = *local && env.own_share;
  auto on_result = [sink, own](caf::expected<health_report> r) {
    if (r)
      sink->reply(json_response(200, readiness_body(*r, own)));
    else
      sink->reply(error_response(state_errc::backend_unavailable,
                                 "not ready: " + message_of(r.error())));
  };
  using call_class = store_bridge::call_class;
  const auto& target = own ? env.own_share : env.store;
  if (!env.bridge.ask_ops<health_report>(call_class::readiness, target,
                                         on_result, health_atom_v))
    sink->reply(ops_overloaded(env, call_class::readiness, "/readyz checks",
                               "the store"));
}

void metrics(const handler_env& env, const sink_ptr& sink) {
  auto on_result = [sink](caf::expected<std::string> r) {
    if (r)
      sink->reply(make_response(200, std::move(*r),
                                "text/plain; version=0.0.4; charset=utf-8"));
    else
      sink->reply(error_response(r.error()));
  };
  using call_class = store_bridge::call_class;
  if (!env.bridge.ask_ops<std::string>(call_class::metrics, env.metrics,
                                       on_result, render_atom_v))
    sink->reply(ops_overloaded(env, call_class::metrics, "/metrics requests",
                               "the metrics actor"));
}

} // namespace solver_state::gateway
