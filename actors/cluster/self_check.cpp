// The start-up check that every registered message type serializes and
// deserializes, before a node publishes or connects.

#include "actors/cluster/self_check.hpp"

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "messages/interfaces.hpp"
#include "messages/type_ids.hpp"

namespace solver_state {

namespace {

using block = caf::id_block::solver_state;

/// Encodes `msg` as the middleman would, decodes it back and encodes the
/// copy again: both encodings must be equal.
caf::error round_trip(caf::actor_system& sys, const caf::message& msg,
                      const char* name) {
  auto fail = [&](const std::string& why) {
    return make_state_error(state_errc::serialization_error,
                            std::string{"type "} + name + " cannot cross the "
                              + "wire (" + why
                              + "); is it in register_message_types?");
  };
  std::vector<char> first;
  caf::binary_serializer sink{sys, first};
  if (auto err = sink(const_cast<caf::message&>(msg)))
    return fail(sys.render(err));
  caf::message copy;
  caf::binary_deserializer source{sys, first};
  if (auto err = source(copy))
    return fail(sys.render(err));
  std::vector<char> second;
  caf::binary_serializer sink2{sys, second};
  if (auto err = sink2(copy))
    return fail(sys.render(err));
  if (first != second)
    return fail("decoded value differs");
  return {};
}

template <size_t... Is>
caf::error check_block(caf::actor_system& sys, std::index_sequence<Is...>) {
  caf::error result;
  // Stops at the first failure: later checks only run while result is empty.
  (void) std::initializer_list<int>{
    (result ? 0
            : (result = round_trip(
                 sys,
                 caf::make_message(
                   typename caf::type_by_id<block::begin + Is>::type{}),
                 caf::type_name_by_id<block::begin + Is>::value),
               0))...};
  return result;
}

template <size_t... Is>
std::vector<std::string> names_of(std::index_sequence<Is...>) {
  return {caf::type_name_by_id<block::begin + Is>::value...};
}

using block_indices = std::make_index_sequence<block::end - block::begin>;

} // namespace

std::vector<std::string> wire_type_names() {
  return names_of(block_indices{});
}

caf::error check_message_types(caf::actor_system& sys) {
  for (auto& signature : sys.message_types<member_actor>())
    if (signature.find("invalid") != std::string::npos)
      return make_state_error(state_errc::serialization_error,
                              "the member_actor interface names an "
                              "unregistered type: "
                                + signature);
  return check_block(sys, block_indices{});
}

} // namespace solver_state
