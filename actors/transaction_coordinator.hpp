#pragma once

// The coordinator of one transaction whose keys several shards own, on a
// store whose shards hold their own data (memory, file). See the
// transaction_coordinator interface in messages/interfaces.hpp for the
// protocol; the shard's half is in actors/shard.cpp.

#include <caf/fwd.hpp>

#include "actors/key_router.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// Spawns a coordinator for one transaction over `map`'s owners. Only
/// stores of shard_actor owners can be coordinated; for any other owner type
/// the coordinator refuses the transaction.
template <class Owner>
transaction_coordinator
spawn_transaction_coordinator(caf::actor_system& sys, ownership_ptr<Owner> map);

} // namespace solver_state
