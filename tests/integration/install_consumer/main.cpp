// A solver that serves the HTTP API from its own process through the
// installed http component, and (when asked for) registers the Redis plugin.
#include <chrono>
#include <iostream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <solver_state/http.hpp>
#include <solver_state/solver_state.hpp>
#if WITH_REDIS
#  include <solver_state/redis.hpp>
#endif

int main() {
  using namespace solver_state;
  caf::actor_system_config cfg;
  register_message_types(cfg);
  caf::actor_system sys{cfg};
  state_config state;
  state.type = "memory";
  auto store = start_store(sys, state, plugin_registry::builtin());
  if (!store)
    return 1;
  http_config http;
  http.listen = "127.0.0.1:0";
  http_server server{sys, http, store->router, store->metrics};
  auto err = server.start();
  bool ok = !err && server.port() != 0;
  server.stop(std::chrono::seconds{1});
  stop_store(*store);
#if WITH_REDIS
  plugin_registry plugins;
  plugins.add(make_redis_plugin());
  ok = ok && plugins.find("redis://127.0.0.1:6379/0") != nullptr;
#endif
  std::cout << (ok ? "component consumer ok" : "component consumer failed")
            << "\n";
  return ok ? 0 : 1;
}
