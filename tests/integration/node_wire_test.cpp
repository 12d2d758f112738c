// Every message type of the protocol crosses a real remote connection, and a
// missing registration is caught (by this test and by the start-up self
// check) instead of at the first message in production. Also: only peers
// with solver-state's application identifier can connect.

#include <catch2/catch.hpp>

#include <utility>

#include <caf/binary_serializer.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/cluster/self_check.hpp"
#include "messages/type_ids.hpp"
#include "tests/support/node_support.hpp"

using namespace solver_state;
using namespace node_test;

namespace {

using block = caf::id_block::solver_state;

template <class T>
std::vector<char> bytes_of(caf::actor_system& sys, T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto err = sink(x);
  REQUIRE_FALSE(err);
  return buf;
}

/// Sends `value` to the echo node and checks the same value comes back.
template <class T>
bool echoes(caf::actor_system& sys, const caf::actor& echo, T value) {
  caf::scoped_actor self{sys};
  bool same = false;
  self->request(echo, std::chrono::seconds{3}, value)
    .receive([&](T& back) { same = bytes_of(sys, back) == bytes_of(sys, value); },
             [&](caf::error&) { same = false; });
  return same;
}

template <size_t... Is>
std::vector<std::string> failing_types(caf::actor_system& sys,
                                       const caf::actor& echo,
                                       std::index_sequence<Is...>) {
  std::vector<std::string> failed;
  (void) std::initializer_list<int>{
    (echoes(sys, echo, typename caf::type_by_id<block::begin + Is>::type{})
       ? 0
       : (failed.push_back(caf::type_name_by_id<block::begin + Is>::value),
          0))...};
  return failed;
}

using block_indices = std::make_index_sequence<block::end - block::begin>;

struct echo_node {
  temp_dir dir;
  uint16_t port = free_port();
  node_process proc{dir.path, "echo",
                    std::vector<std::string>{std::string{SOLVER_STATE_BINARY_DIR}
                                               + "/tests/node_echo",
                                             std::to_string(port)},
                    port};
  echo_node() { proc.start(); }
};

caf::actor connect_echo(caf::actor_system& sys, uint16_t port) {
  auto handle = sys.middleman().remote_actor("127.0.0.1", port);
  REQUIRE(handle);
  return *handle;
}

} // namespace

TEST_CASE("every type of the type-ID block round-trips through a remote node") {
  echo_node echo;
  client_system client;
  auto handle = connect_echo(client.sys, echo.port);
  CHECK(failing_types(client.sys, handle, block_indices{}).empty());
  CHECK(wire_type_names().size() == block::end - block::begin);
  // Values with content, not only defaults.
  CHECK(echoes(client.sys, handle, entry{"value\0bytes", 42, 1700000000000}));
  CHECK(echoes(client.sys, handle,
               set_request{"order:a:b", "v", 5000, condition::matches(7)}));
  CHECK(echoes(client.sys, handle,
               batch_reply{{entry{"a", 1, 0}, entry{}, entry{"c", 3, 9}},
                           {"d"},
                           {{"b", "key b: damaged"}}}));
  CHECK(echoes(client.sys, handle, batch_request{{"a", "b"}, true}));
  CHECK(echoes(client.sys, handle, order{"eip7683", "0x1", "data", 12}));
  CHECK(echoes(client.sys, handle,
               key_page{{"fill:o:1", "fill:o:2"}, true}));
  // Errors of our category cross the wire with code and message. (A message
  // of a lone error is a system message, so it travels with a tag here.)
  caf::scoped_actor self{client.sys};
  auto err = make_state_error(state_errc::version_mismatch, "expected 7");
  bool same_error = false;
  self->request(handle, std::chrono::seconds{3}, err, std::string{"tag"})
    .receive(
      [&](caf::error& back, std::string&) {
        same_error = code_of(back) == state_errc::version_mismatch
                     && message_of(back) == "expected 7";
      },
      [&](caf::error&) {});
  CHECK(same_error);
}

TEST_CASE("a client without the registrations cannot use the types") {
  echo_node echo;
  // Same middleman settings, but register_message_types is forgotten.
  caf::actor_system_config cfg;
  REQUIRE_FALSE(configure_node(cfg, node_config{}));
  caf::actor_system sys{cfg};
  auto handle = connect_echo(sys, echo.port); // CAF 0.17 connects anyway ...
  CHECK_FALSE(echoes(sys, handle, entry{"v", 1, 0})); // ... and fails here
  // The start-up self check catches it before any connection.
  auto check = check_message_types(sys);
  REQUIRE(check);
  CHECK(code_of(check) == state_errc::serialization_error);
}

TEST_CASE("the start-up self check passes with the registrations") {
  client_system client;
  CHECK_FALSE(check_message_types(client.sys));
}

TEST_CASE("only solver-state nodes can connect (application identifier)") {
  temp_dir dir;
  auto port = free_port();
  node_process store{dir.path, "store", store_yaml(port), port};
  store.start();
  SECTION("a generic CAF program is refused") {
    caf::actor_system_config cfg;
    register_message_types(cfg);
    cfg.load<caf::io::middleman>(); // default app identifier
    caf::actor_system sys{cfg};
    auto handle = connect_state(sys, "127.0.0.1", port, false);
    CHECK_FALSE(handle);
  }
  SECTION("a solver-state client is accepted") {
    client_system client;
    auto handle = client.connect(port);
    REQUIRE(handle);
    CHECK(ask<health_report>(client.sys, *handle, std::chrono::seconds{5},
                             health_atom_v));
  }
}
