// The gateway's request dispatcher: bearer-token check, then 400/404/405
// for bad targets, unknown paths and methods, then the route's handler.

#include "http/api.hpp"

#include "http/auth.hpp"
#include "http/responses.hpp"

namespace solver_state::gateway {

api::api(store_bridge& bridge, state_actor store,
         ownership_ptr<state_actor> owners, metrics_actor metrics,
         std::string auth_token, handler_limits limits)
  : env_{bridge, std::move(store), std::move(owners), std::move(metrics),
         limits, {}, {}},
    auth_token_(std::move(auth_token)) {
}

bool api::authorized(const request_t& req) const {
  if (auth_token_.empty())
    return true;
  auto it = req.find(bhttp::field::authorization);
  return it != req.end() && bearer_matches(it->value(), auth_token_);
}

route_match api::resolve(const request_t& req) const {
  return match_route(req.target(), method_of(req.method_string()));
}

std::optional<response_t> api::refusal(const request_t& req,
                                       const route_match& m) const {
  auto method = method_of(req.method_string());
  // The token is checked before routing: without it, nothing about the
  // paths (not even which exist) is revealed. GET and HEAD /healthz stay
  // open.
  if (!open_without_token(m.route, method) && !authorized(req))
    return unauthorized_response();
  if (!m.problem.empty())
    return error_response(state_errc::bad_request, m.problem);
  if (m.route == route_id::unknown)
    return error_response(state_errc::not_found, "no such path");
  if (!allows(m.route, method)) {
    auto res = error_response(state_errc::method_not_allowed,
                              std::string{req.method_string()}
                                + " is not allowed here; allowed: "
                                + allow_header(m.route));
    res.set(bhttp::field::allow, allow_header(m.route));
    return res;
  }
  if (!ignores_query(m.route))
    if (auto name = repeated_query_parameter(m.query); !name.empty())
      return error_response(state_errc::bad_request,
                            "query parameter '" + name
                              + "' is given more than once");
  return std::nullopt;
}

void api::serve(request_t& req, route_match m, const sink_ptr& sink) const {
  if (auto refused = refusal(req, m))
    return sink->reply(std::move(*refused));
  auto method = method_of(req.method_string());
  // HEAD is GET without the body: the connection drops the body when it
  // writes the answer, so status and headers (ETag, Content-Length) are
  // exactly GET's.
  if (method == method_id::head)
    method = method_id::get;
  switch (m.route) {
    case route_id::healthz:
      healthz(sink);
      break;
    case route_id::readyz:
      readyz(env_, m, sink);
      break;
    case route_id::metrics:
      metrics(env_, sink);
      break;
    case route_id::state_list:
      if (method == method_id::del)
        delete_prefix(env_, req, m, sink);
      else
        list_keys(env_, req, m, sink);
      break;
    case route_id::state_batch_get:
      batch_get(env_, req, m, sink);
      break;
    case route_id::state_transaction:
      transaction(env_, req, m, sink);
      break;
    case route_id::state_key:
      if (method == method_id::get)
        get_value(env_, req, m, std::move(m.params[0]), sink);
      else if (method == method_id::put)
        put_value(env_, req, m, std::move(m.params[0]), sink);
      else
        delete_value(env_, req, m, std::move(m.params[0]), sink);
      break;
    case route_id::watch:
      watch_changes(env_, req, m, sink);
      break;
    case route_id::export_keys:
      export_keys(env_, req, m, sink);
      break;
    case route_id::import_keys:
      import_keys(env_, req, m, sink);
      break;
    case route_id::query:
      query(env_, req, m, sink);
      break;
    case route_id::order:
    case route_id::fill:
    case route_id::settlement:
      typed_item(env_, req, m, method, sink);
      break;
    default:
      typed_list(env_, req, m, sink);
      break;
  }
}

} // namespace solver_state::gateway
