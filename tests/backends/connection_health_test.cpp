// connection_health: the errors a caller sees, and the log an operator sees
// (one line per change of state, never one per failed request).

#include <catch2/catch.hpp>

#include "backends/connection_health.hpp"
#include "tests/support/captured_log.hpp"

using namespace solver_state;
using testing::captured_log;


TEST_CASE("an outage is one warning with the reason, and the recovery one "
          "info line") {
  captured_log log;
  connection_health health{"redis 127.0.0.1:1"};
  auto err = health.failed("cannot connect: Connection refused");
  CHECK(code_of(err) == state_errc::backend_unavailable);
  CHECK(message_of(err)
        == "redis 127.0.0.1:1: cannot connect: Connection refused");
  for (int i = 0; i < 100; ++i)
    health.failed("cannot connect: Connection refused");
  CHECK_FALSE(health.up());
  CHECK(log.count("warning redis 127.0.0.1:1: down: cannot connect") == 1);
  health.connected();
  health.connected();
  CHECK(health.up());
  CHECK(log.count("info redis 127.0.0.1:1: up again after") == 1);
  health.failed("server closed the connection");
  CHECK(log.count("down: server closed the connection") == 1);
  CHECK(log.count("warning") == 2);
}

TEST_CASE("a first successful connection logs nothing") {
  captured_log log;
  connection_health health{"postgresql db:5432"};
  health.connected();
  CHECK(log.text().empty());
}
