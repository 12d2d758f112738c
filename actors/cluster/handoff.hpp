#pragma once

// The handoff of a member guard (member_guard.hpp), split from its request
// handling: claiming keys from the nodes that still hold them, pulling
// every such key in the background, and answering other nodes' pulls.
//
// Protocol, for a node N that owns keys under its member list:
// - N asks each source S for the keys S holds that N owns, one step of S's
//   key order at a time (scan), and claims them.
// - To CLAIM keys, N reads its own store and fetches S's copies from every
//   source not yet scanned to the end. Where N has the key, N's copy wins
//   (only N has written it since the list changed); else the first copy
//   found is written into N's store, create-only, keeping its expiry. Then
//   every copy elsewhere is dropped, each only at the version N fetched.
//   Only then is the key N's: requests for it wait meanwhile.
// - A source never changes a key it does not own (the guard refuses such
//   requests), so its copies stay as fetched until dropped.
// - When every source has been scanned to the end, no other node holds a
//   key N owns: the handoff is over and N records it (marker_path).

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <caf/typed_event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/cluster/claim_table.hpp"
#include "actors/cluster/member_guard.hpp"

namespace solver_state {

struct source_progress {
  handoff_source source;
  /// Scanned to the end: it holds no key this node owns.
  bool done = false;
  /// Where the next scan step starts.
  std::string after;
  /// Since when its steps fail, and whether that was logged: a streak is
  /// logged once, and only when it outlasts the start-up of a cluster or a
  /// rolling restart (peers not connected yet, or still on the old list).
  bool failing = false;
  bool failure_logged = false;
  std::chrono::steady_clock::time_point failing_since;
};

struct member_guard_state {
  static inline const char* name = "solver-state.member-guard";
  member_guard_settings settings;
  std::vector<source_progress> sources;
  claim_table claims;
  /// This node still pulls keys it owns from other nodes.
  bool active = false;
  std::chrono::steady_clock::time_point started;
  double seconds = 0;
  uint64_t keys_in = 0;
  uint64_t keys_out = 0;
  /// Claims waiting to be tried again, and whether a retry tick is due.
  std::vector<std::function<void()>> claim_retries;
  bool retry_tick_due = false;

  const membership& members() const { return *settings.members; }
};

using guard_ptr = member_guard_actor::stateful_pointer<member_guard_state>;

/// Starts the handoff when the marker does not record this member list.
void start_handoff(guard_ptr self);

/// Runs `done` once every key of `keys` is this node's (claiming those that
/// are not), with the first error otherwise.
void claim_keys(guard_ptr self, const std::vector<std::string>& keys,
                claim_done done);

/// The same for every key under `prefix` that a source still holds.
void claim_prefix(guard_ptr self, std::string prefix, claim_done done);

/// handoff_step_atom's source index that means "retry the waiting claims".
constexpr uint32_t claim_retry_tick = std::numeric_limits<uint32_t>::max();

/// The next scan step at source `i`, or the claim retries.
void scan_step(guard_ptr self, uint32_t i);

handoff_stats stats_of(const member_guard_state& st);

// -- the holder's side ---------------------------------------------------------

caf::result<handoff_scan_page> answer_scan(guard_ptr self,
                                           handoff_scan_request& req);
caf::result<batch_reply> answer_fetch(guard_ptr self, handoff_keys& req);
caf::result<uint64_t> answer_drop(guard_ptr self, handoff_keys& req);

} // namespace solver_state
