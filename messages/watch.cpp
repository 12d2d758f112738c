#include "messages/watch.hpp"

namespace solver_state {

const char* to_string(change_cause cause) {
  switch (cause) {
    case change_cause::put:
      return "put";
    case change_cause::del:
      return "delete";
    case change_cause::expire:
      return "expire";
  }
  return "unknown";
}

} // namespace solver_state
