// Names of the operation kinds counted in state_operations_total.

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
    default:
      return "unknown";
  }
}

} // namespace solver_state
