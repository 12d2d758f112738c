#pragma once

// A node's view of the member list: who owns a key (rendezvous placement),
// whether this node is one of the members, which nodes are leaving (they
// own nothing but still hold keys to hand over), and the list's hash that
// every handoff message carries so only nodes with the same list move keys.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

#include "actors/cluster/placement.hpp"
#include "messages/watch.hpp"

namespace solver_state {

class membership {
public:
  static constexpr size_t none = std::numeric_limits<size_t>::max();

  /// `members` as configured, kept sorted: their order matters to nothing,
  /// and an index into members() names the same node on every node;
  /// `self` this node's node.listen (a member, a leaving node, or neither
  /// for a pure front); `leaving` the nodes being drained, kept sorted.
  membership(std::vector<std::string> members, std::string self,
             std::vector<std::string> leaving = {});

  const std::vector<std::string>& members() const { return members_; }
  const std::vector<std::string>& leaving() const { return leaving_; }
  const std::string& self_name() const { return self_name_; }
  /// This node's index among the members, or `none`.
  size_t self() const { return self_; }
  /// Identifies the member list and the leaving nodes: the same on every
  /// node that lists the same members and the same node.leaving, each in
  /// any order. Every handoff message carries it, so nodes that disagree
  /// on either refuse each other's pulls: a node that does not know a node
  /// is leaving would never pull from it, and its handoff must not end as
  /// if it had. Without leaving nodes it is members_hash(), as before
  /// node.leaving counted (nodes of both builds agree then).
  uint64_t hash() const { return hash_; }
  /// Identifies the member list alone (the handoff marker's first line).
  uint64_t members_hash() const { return members_hash_; }

  size_t owner(std::string_view key) const { return placement_.owner(key); }
  size_t owner_of_group(std::string_view group) const {
    return placement_.owner_of_group(group);
  }
  bool owns(std::string_view key) const { return owner(key) == self_; }

  /// Empty when this node owns `key`; else backend_unavailable naming the
  /// owner (the sender has another member list: a membership change is
  /// under way, or a node is misconfigured).
  caf::error misdirected(std::string_view key) const;
  /// The same for every key of placement group `group`, named `what`.
  caf::error misdirected_group(std::string_view group,
                               std::string_view what) const;

  /// backend_unavailable for a handoff message stamped with another list.
  caf::error other_list(uint64_t sender_hash) const;

  /// Whether a change the store of member `source` (or `none`: a leaving
  /// node) committed is a change of the key: only the owner changes a key,
  /// so a delete elsewhere is the drop of a copy handed to its new owner.
  bool is_change(const change_event& e, size_t source) const {
    return e.why() != change_cause::del || owner(e.key) == source;
  }

private:
  caf::error verdict(std::string_view what, size_t owner) const;

  std::vector<std::string> members_;
  std::vector<std::string> leaving_;
  std::string self_name_;
  rendezvous_placement placement_;
  size_t self_ = none;
  uint64_t members_hash_ = 0;
  uint64_t hash_ = 0;
};

} // namespace solver_state
