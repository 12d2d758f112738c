#pragma once

// The single-key half of every router: a typed message goes to the owner of
// its key (messages/keys.hpp routing_key) by delegation, so the owner answers
// the caller directly. Shared by the local router (owners are shards) and the
// cluster router (owners are peers).

#include <utility>

#include "actors/routing_key.hpp"
#include "messages/interfaces.hpp"
#include "messages/keys.hpp"

namespace solver_state {

/// A handler for (Atom, Msg) that delegates to `st.owner(routing_key(msg))`.
template <class Atom, class Msg, class Self, class State>
auto to_owner(Self* self, const State& st) {
  return [self, &st](Atom atom, Msg& x) {
    auto& dest = st.owner(routing_key(x));
    return self->delegate(dest, atom, std::move(x));
  };
}

} // namespace solver_state
