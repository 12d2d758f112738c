// Temporary: replaced by the Beast gateway (issue 3).
#include "http/server.hpp"

#include <spdlog/spdlog.h>

namespace solver_state {

struct http_server::impl {};

http_server::http_server(caf::actor_system&, http_config, state_actor,
                         metrics_actor)
  : impl_(std::make_unique<impl>()) {
}

http_server::~http_server() = default;

caf::error http_server::start() {
  spdlog::warn("http: gateway not built yet");
  return {};
}

uint16_t http_server::port() const {
  return 0;
}

void http_server::stop(std::chrono::milliseconds) {
}

} // namespace solver_state
