// DELETE /v1/state?prefix=P: a loop of store calls, each deleting at most
// delete_step_keys keys per shard (and stopping after about a second of
// work, however slow the backend: see the shard's deletion_call_time),
// until no shard has keys left under P;
// then one answer, {"deleted":N} with the sum. Each call is a step of the
// request (next_step), so http.request_timeout bounds one call, not the
// whole deletion: a million keys take many calls, each well within it, and
// a cluster peer's node.request_timeout bounds its part the same way.
//
// Keys written under P while the loop runs may or may not be deleted (each
// call starts from the beginning of P again, so one written before the
// last call is). A failed call answers with its error: the keys deleted
// before it stay deleted, and repeating the request finishes the job.

#include "http/handlers.hpp"

#include <memory>

#include "http/json_codec.hpp"
#include "http/responses.hpp"
#include "http/store_call.hpp"

namespace solver_state::gateway {

namespace {

/// Keys one call deletes per shard at most: some twenty chunks' worth on a
/// local backend. A backend that takes a round trip per key
/// (DynamoDB) gets fewer done: the shard ends a call after about a second.
constexpr uint64_t delete_step_keys = 10'000;

/// One deletion in progress. Its steps run one at a time (each starts on
/// the io thread, the store's answer comes back through next_step), so
/// nothing here needs a lock.
class prefix_deletion_run
  : public std::enable_shared_from_this<prefix_deletion_run> {
public:
  prefix_deletion_run(const handler_env& env, sink_ptr sink,
                      std::string prefix)
    : env_(env), sink_(std::move(sink)), prefix_(std::move(prefix)) {
  }

  /// Asks the store to delete the next keys under the prefix.
  void step() {
    auto self = shared_from_this();
    auto on_result = [self](caf::expected<delete_prefix_result> r) {
      if (!r)
        return self->sink_->reply(error_response(r.error()));
      self->deleted_ += r->deleted;
      if (r->more)
        return self->sink_->next_step([self] { self->step(); });
      self->sink_->reply(json_response(200, deleted_body(self->deleted_)));
    };
    if (!env_.bridge.ask<delete_prefix_result>(
          env_.store, on_result, delete_atom_v,
          delete_prefix_request{prefix_, delete_step_keys}))
      sink_->reply(overloaded(env_));
  }

private:
  const handler_env& env_;
  sink_ptr sink_;
  std::string prefix_;
  uint64_t deleted_ = 0;
};

} // namespace

void delete_prefix(const handler_env& env, request_t&, const route_match& m,
                   const sink_ptr& sink) {
  auto prefix = prefix_param(m, sink);
  if (!prefix)
    return;
  // The store refuses it too; refused here, an empty or missing prefix
  // costs no store call.
  if (prefix->empty())
    return sink->reply(error_response(state_errc::bad_request,
                                      "prefix must not be empty: DELETE "
                                      "/v1/state needs ?prefix=P"));
  std::make_shared<prefix_deletion_run>(env, sink, std::move(*prefix))->step();
}

} // namespace solver_state::gateway
