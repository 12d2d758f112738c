#include "http/status.hpp"

namespace solver_state::gateway {

unsigned http_status_of(state_errc code) {
  switch (code) {
    case state_errc::none:
      return 200;
    case state_errc::not_found:
      return 404;
    case state_errc::invalid_key:
    case state_errc::bad_request:
      return 400;
    case state_errc::version_mismatch:
      return 412;
    case state_errc::unauthorized:
      return 401;
    case state_errc::method_not_allowed:
      return 405;
    case state_errc::capacity_exceeded:
      return 507;
    case state_errc::payload_too_large:
      return 413;
    case state_errc::backend_unavailable:
      return 503;
    case state_errc::timeout:
      return 504;
    case state_errc::backend_error:
    case state_errc::io_error:
    case state_errc::serialization_error:
      return 500;
  }
  return 500;
}

} // namespace solver_state::gateway
