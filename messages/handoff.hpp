#pragma once

// The HANDOFF protocol between the member nodes of a partitioned cluster
// (actors/cluster/handoff.hpp): after the member list changed, each node
// pulls the keys it now owns from the nodes that still hold them. Every
// request names the sender's member list by its hash; a node with another
// list refuses it, so two nodes only ever move keys under the same
// placement.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/values.hpp"

namespace solver_state {

/// "Which keys do you hold that I own?": one step of a holder's key order,
/// after `after`, filtered to the keys member `requester` owns.
struct handoff_scan_request {
  uint64_t members = 0;
  uint32_t requester = 0;
  std::string after;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        handoff_scan_request& x) {
  return f(caf::meta::type_name("solver_state::handoff_scan_request"),
           x.members, x.requester, x.after);
}

/// The holder's answer: the requester's keys among those it listed, where
/// the next step starts (the last key it listed, owned or not), and whether
/// it holds keys after that.
struct handoff_scan_page {
  std::vector<std::string> keys;
  std::string next_after;
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_scan_page& x) {
  return f(caf::meta::type_name("solver_state::handoff_scan_page"), x.keys,
           x.next_after, x.more);
}

/// Keys of a handoff step: to fetch (versions empty), or to drop once their
/// new owner keeps them (the version of each key it fetched).
struct handoff_keys {
  uint64_t members = 0;
  std::vector<std::string> keys;
  std::vector<version_t> versions;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_keys& x) {
  return f(caf::meta::type_name("solver_state::handoff_keys"), x.members,
           x.keys, x.versions);
}

/// Where a node's handoff stands, for the metrics.
struct handoff_stats {
  /// True while the node still pulls keys it owns from other nodes.
  bool active = false;
  /// Nodes not yet pulled from completely, of all it pulls from.
  uint32_t sources_pending = 0;
  uint32_t sources = 0;
  /// Keys this node took over (copied in) and keys it handed to their new
  /// owners (dropped here), since start.
  uint64_t keys_in = 0;
  uint64_t keys_out = 0;
  /// Seconds the current handoff has run, or the last one took.
  double seconds = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_stats& x) {
  return f(caf::meta::type_name("solver_state::handoff_stats"), x.active,
           x.sources_pending, x.sources, x.keys_in, x.keys_out, x.seconds);
}

} // namespace solver_state
