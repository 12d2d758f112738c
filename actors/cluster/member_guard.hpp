#pragma once

// What a member node publishes on node.listen, and what its own cluster
// router sends its keys to: the local router behind two checks.
//
// - OWNERSHIP: a key is served only by the member that owns it under the
//   node's member list. A key that arrives elsewhere was sent by a node with
//   another list (a membership change under way, or a misconfigured node):
//   serving it would write a copy no other node reads, so it gets
//   backend_unavailable naming the owner.
// - HANDOFF (partitioned mode, after the member list changed): keys this
//   node now owns may still sit on the nodes that owned them before. Until
//   it has pulled them all (handoff.hpp), a request for such a key first
//   claims it: a copy found elsewhere is copied in and dropped there, and
//   requests wait while that runs, so each key is served from one place
//   only and no write is lost or applied twice. The guard also answers the
//   other nodes' handoff requests for the keys it holds but no longer owns.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actors/cluster/membership.hpp"
#include "messages/interfaces.hpp"

namespace solver_state {

/// A node that may hold keys this node owns: another member, or a node
/// leaving the cluster.
struct handoff_source {
  std::string name;
  member_actor handle;
};

struct member_guard_settings {
  state_actor local;
  std::shared_ptr<const membership> members;
  /// Every other member and every leaving node.
  std::vector<handoff_source> sources;
  /// Records that this node pulled everything it owns under a member list,
  /// so a restart with the same list skips the handoff. Empty when the
  /// store keeps nothing across restarts: every start pulls.
  std::string marker_path;
  /// The local store is an engine other nodes share (store_handles::
  /// shared): there is nothing to move, and a "moved" key's drop would
  /// delete it for every node. The handoff then never runs, and this
  /// node refuses the others' scans, fetches and drops. start_node
  /// refuses such a node outright; this is the guard's own defence.
  bool shared_store = false;
  /// Bounds each request to the local store or to a source (peer actors
  /// answer within node.request_timeout).
  std::chrono::milliseconds timeout{6'000};
  /// Keys listed per scan step at a source, and claimed per batch.
  uint32_t scan_page = 1'000;
  size_t claim_batch = 256;
  /// A failed scan step is tried again after this long.
  std::chrono::milliseconds retry{500};
  /// A claim that cannot reach a source (not connected yet after a start,
  /// restarting during a rolling change) is tried again every
  /// claim_retry for this long before its requests fail: they wait
  /// instead of failing at once.
  std::chrono::milliseconds claim_patience{2'000};
  std::chrono::milliseconds claim_retry{100};
};

member_guard_actor spawn_member_guard(caf::actor_system& sys,
                                      member_guard_settings settings);

} // namespace solver_state
