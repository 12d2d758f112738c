#pragma once

// The one routing behaviour behind both routers. A key router spreads keys
// over owners — the shards of a local store, or the store nodes of a cluster
// — and speaks the whole state actor interface: single-key operations are
// delegated to the owner (it answers the caller directly); list, batch_get
// and health fan out through a short-lived collector (actors/fan_out.hpp),
// one message per owner, so the router itself never holds a pile of
// outstanding requests.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include <caf/duration.hpp>
#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace solver_state {

/// What a router does with a transaction whose keys have several owners.
enum class spanning_transactions : uint8_t {
  /// The owners are nodes of a cluster: refused with cross_node_transaction
  /// (keys that must change together belong in one placement group).
  refuse,
  /// The owners share one data set (Redis, PostgreSQL, DynamoDB): the owner
  /// of the first key applies the whole transaction in one backend call.
  first_owner_applies,
  /// Each owner holds its own data in memory: a coordinator locks the
  /// owners in index order, then has each apply its part.
  coordinate,
  /// Each owner holds its own durable data (file): refused with bad_request
  /// until a transaction over several shards can be made durable as one
  /// unit; keys of one placement group share a shard.
  one_shard_only,
};

/// Who owns which key, for owners of handle type `Owner` (shard_actor or
/// state_actor).
template <class Owner>
struct ownership {
  std::vector<Owner> owners;
  /// Index into `owners` of the owner of a key.
  std::function<size_t(std::string_view key)> owner_of_key;
  /// Index into `owners` of the owner of every key of a placement group
  /// (backends/shard_placement.hpp).
  std::function<size_t(std::string_view group)> owner_of_group;
  /// How long a fan-out waits for each owner: a shard stuck in its backend
  /// or a dead peer must not hold a collector, and its caller, forever.
  caf::duration timeout;
  /// Value bytes one merged batch_get reply carries at most; the keys past
  /// it go back as unprocessed (every owner bounds its own part the same).
  size_t max_reply_bytes = 16u << 20;
  /// Keys one batch_get may name; more is bad_request.
  size_t max_batch_keys = 1'000;
  /// One value of a transaction (state.max_value_bytes).
  size_t max_value_bytes = 16u << 20;
  /// How a transaction over several owners is run.
  spanning_transactions spanning = spanning_transactions::refuse;
  /// Where watch requests go: the node's watch hub. Invalid: refused.
  watch_hub_actor hub;
  /// Where a transaction the router refuses itself (malformed, or over
  /// owners it cannot span) is counted, once, as txn_done_atom: the shard
  /// of this node's store that its first key places on (shard_index). A
  /// router over shards counts at the owner itself and needs none; a
  /// cluster router has no shard among its owners.
  std::vector<shard_actor> counting_shards;
};

template <class Owner>
using ownership_ptr = std::shared_ptr<const ownership<Owner>>;

/// Spawns a key router. With `link_owners`, the router is linked to its
/// owners: stopping it stops them (a store's router and its shards).
template <class Owner>
state_actor spawn_key_router(caf::actor_system& sys, ownership_ptr<Owner> map,
                             bool link_owners);

extern template state_actor
spawn_key_router<shard_actor>(caf::actor_system&, ownership_ptr<shard_actor>,
                              bool);
extern template state_actor
spawn_key_router<state_actor>(caf::actor_system&, ownership_ptr<state_actor>,
                              bool);

} // namespace solver_state
