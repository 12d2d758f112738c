#pragma once

// The handoff marker (`~cluster-handoff` beside a member's data): that this
// node pulled every key it owns under a member list, from every node of its
// node.leaving. A start with the same list skips its handoff; a start whose
// list drops a member the marker names without draining it is refused
// before it serves.

#include <string>
#include <vector>

namespace solver_state {

class membership;

/// Whether the marker at `path` says the handoff under `m` is done: the
/// same members, and every node of m's node.leaving drained. False when
/// there is no marker (or no path: a store that keeps nothing).
bool marker_says_done(const std::string& path, const membership& m);

/// Records, durably, that the handoff under `m` is done (a crash leaves the
/// old marker or the new one). Logs and goes on when it cannot: the next
/// start pulls again, which is harmless.
void write_marker(const std::string& path, const membership& m);

/// Removes the marker, durably (a leaving node: added back later, it must
/// pull again).
void remove_marker(const std::string& path);

/// The members the marker at `path` recorded that are neither in `members`
/// nor in `leaving`: dropped without being drained, their keys would be
/// served as absent here and written anew, to be shadowed by their old
/// copies once the node is added back. Empty without a marker, or with one
/// of the builds that recorded no names.
std::vector<std::string> members_dropped_undrained(
  const std::string& path, const std::vector<std::string>& members,
  const std::vector<std::string>& leaving);

} // namespace solver_state
