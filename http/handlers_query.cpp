// POST /v1/query: parse the query, let the store's indexes answer a page.

#include "http/handlers.hpp"

#include "http/query_codec.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"

namespace solver_state::gateway {

void query(const handler_env& env, request_t& req, const route_match& m,
           const sink_ptr& sink) {
  if (reject_query(m, sink))
    return;
  std::string problem;
  auto parsed = parse_query(req.body(), problem);
  if (!parsed)
    return sink->reply(error_response(state_errc::bad_request, problem));
  auto with_values = parsed->with_values;
  auto on_result = [sink, with_values](caf::expected<query_page> page) {
    if (!page)
      return sink->reply(error_response(page.error()));
    sink->reply(json_response(200, query_page_body(*page, with_values)));
  };
  if (!env.bridge.ask<query_page>(env.store, on_result, query_atom_v,
                                  std::move(*parsed)))
    sink->reply(overloaded(env));
}

} // namespace solver_state::gateway
