// POST /v1/state/transaction: parse the operations, let the store apply
// them all or none, answer the new entity tags.

#include "http/handlers.hpp"

#include <memory>

#include "http/json_codec.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"
#include "http/transaction_codec.hpp"

namespace solver_state::gateway {

void transaction(const handler_env& env, request_t& req, const route_match& m,
                 const sink_ptr& sink) {
  if (reject_query(m, sink))
    return;
  std::string problem;
  auto parsed =
    parse_transaction(req.body(), problem, env.limits.max_batch_keys);
  if (!parsed)
    return sink->reply(error_response(state_errc::bad_request, problem));
  // The bounds (operation count, duplicate keys, value sizes) are the
  // store's, so CAF senders get the same answers.
  auto shape = std::make_shared<transaction_request>();
  shape->ops.reserve(parsed->ops.size());
  for (auto& op : parsed->ops)
    shape->ops.push_back(txn_op{op.kind, op.key, {}, op.ttl_ms, op.cond});
  auto on_result = [sink, shape](caf::expected<transaction_reply> r) {
    if (!r)
      return sink->reply(error_response(r.error()));
    if (r->versions.size() != shape->ops.size())
      return sink->reply(error_response(
        state_errc::backend_error,
        "the store answered for " + std::to_string(r->versions.size())
          + " of " + std::to_string(shape->ops.size()) + " operations"));
    sink->reply(json_response(200, transaction_reply_body(*shape, *r)));
  };
  if (!env.bridge.ask<transaction_reply>(env.store, on_result, transact_atom_v,
                                         std::move(*parsed)))
    sink->reply(overloaded(env));
}

} // namespace solver_state::gateway
