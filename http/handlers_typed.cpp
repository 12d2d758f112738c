// Handlers of /v1/orders, /v1/fills and /v1/settlements: check segments,
// build the typed key, reuse the key-value handlers; list ids per parent.

#include "http/handlers.hpp"

#include "http/json_codec.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"
#include "messages/keys.hpp"

namespace solver_state::gateway {

namespace {

/// The names of a typed route's two path parameters.
std::pair<const char*, const char*> param_names(route_id route) {
  switch (route) {
    case route_id::order:
    case route_id::orders_list:
      return {"order_type", "order_id"};
    case route_id::fill:
    case route_id::fills_list:
      return {"order_id", "tx_hash"};
    default:
      return {"order_id", "claim_hash"};
  }
}

template <class Query>
void ask_ids(const handler_env& env, Query query, const char* field,
             const sink_ptr& sink) {
  auto on_result = [sink, field](caf::expected<id_list> ids) {
    if (!ids)
      return sink->reply(error_response(ids.error()));
    auto next = next_cursor(ids->more, ids->ids);
    sink->reply(json_response(200, id_list_body(field, *ids, next)));
  };
  if (!env.bridge.ask<id_list>(env.store, on_result, list_atom_v,
                               std::move(query)))
    sink->reply(overloaded(env));
}

} // namespace

void typed_item(const handler_env& env, request_t& req, const route_match& m,
                method_id method, const sink_ptr& sink) {
  auto [first, second] = param_names(m.route);
  auto problem = segment_problem(first, m.params[0]);
  if (problem.empty())
    problem = segment_problem(second, m.params[1]);
  if (!problem.empty())
    return sink->reply(error_response(state_errc::invalid_key, problem));
  std::string key;
  if (m.route == route_id::order)
    key = order_key(m.params[0], m.params[1]);
  else if (m.route == route_id::fill)
    key = fill_key(m.params[0], m.params[1]);
  else
    key = settlement_key(m.params[0], m.params[1]);
  switch (method) {
    case method_id::get:
      return get_value(env, req, m, std::move(key), sink);
    case method_id::put:
      return put_value(env, req, m, std::move(key), sink);
    default:
      return delete_value(env, req, m, std::move(key), sink);
  }
}

void typed_list(const handler_env& env, request_t&, const route_match& m,
                const sink_ptr& sink) {
  page_params page;
  for (auto& q : m.query) {
    std::string problem;
    if (!read_page_param(q, page, problem))
      problem = "unknown query parameter '" + q.name + "'";
    if (!problem.empty())
      return sink->reply(error_response(state_errc::bad_request, problem));
  }
  auto name = param_names(m.route).first;
  if (auto problem = segment_problem(name, m.params[0]); !problem.empty())
    return sink->reply(error_response(state_errc::invalid_key, problem));
  auto& parent = m.params[0];
  switch (m.route) {
    case route_id::orders_list:
      return ask_ids(env, orders_of{parent, page.after, page.limit}, "ids",
                     sink);
    case route_id::fills_list:
      return ask_ids(env, fills_of{parent, page.after, page.limit},
                     "tx_hashes", sink);
    default:
      return ask_ids(env, settlements_of{parent, page.after, page.limit},
                     "claim_hashes", sink);
  }
}

} // namespace solver_state::gateway
