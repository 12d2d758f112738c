// Names of the operation kinds counted in state_operations_total, and of the
// reasons in solver_state_http_refused_connections_total.

#include "messages/metrics.hpp"

namespace solver_state {

const char* to_string(op_kind op) {
  switch (op) {
    case op_kind::get:
      return "get";
    case op_kind::set:
      return "set";
    case op_kind::del:
      return "delete";
    case op_kind::list:
      return "list";
    case op_kind::batch_get:
      return "batch_get";
    case op_kind::transaction:
      return "transaction";
    case op_kind::query:
      return "query";
    case op_kind::delete_prefix:
      return "delete_prefix";
    default:
      return "unknown";
  }
}

const char* to_string(refusal_reason reason) {
  switch (reason) {
    case refusal_reason::max_connections:
      return "max_connections";
    case refusal_reason::descriptors:
      return "descriptors";
    case refusal_reason::evicted_idle:
      return "evicted_idle";
    default:
      return "unknown";
  }
}

} // namespace solver_state
