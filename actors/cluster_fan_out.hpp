#pragma once

// Short-lived collector actors of the cluster router: each answers one list,
// batch_get or health request by sending one message per peer (never one per
// key) and merging the replies, then quits. Every request to a peer carries a
// timeout, so a collector always answers.

#include <chrono>
#include <memory>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/cluster_placement.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

using list_collector =
  caf::typed_actor<caf::replies_to<list_atom, list_request>::with<key_page>>;

using ids_collector =
  caf::typed_actor<caf::replies_to<list_atom, orders_of>::with<id_list>>;

using batch_collector = caf::typed_actor<
  caf::replies_to<batch_get_atom, batch_request>::with<batch_reply>>;

using health_collector =
  caf::typed_actor<caf::replies_to<health_atom>::with<std::string>>;

list_collector spawn_list_collector(caf::actor_system& sys,
                                    std::vector<state_actor> peers,
                                    std::chrono::milliseconds timeout);

ids_collector spawn_ids_collector(caf::actor_system& sys,
                                  std::vector<state_actor> peers,
                                  std::chrono::milliseconds timeout);

/// Splits the keys by owner (placement index = index into `peers`).
batch_collector
spawn_batch_collector(caf::actor_system& sys, std::vector<state_actor> peers,
                      std::shared_ptr<const rendezvous_placement> placement,
                      std::chrono::milliseconds timeout);

health_collector spawn_health_collector(caf::actor_system& sys,
                                        std::vector<state_actor> peers,
                                        std::chrono::milliseconds timeout);

} // namespace solver_state
