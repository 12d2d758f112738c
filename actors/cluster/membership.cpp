// Ownership under a member list, and the errors that name the owner.

#include "actors/cluster/membership.hpp"

#include <algorithm>

#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// The sorted names, one per line.
std::string lines_of(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string joined;
  for (auto& n : names) {
    joined += n;
    joined += '\n';
  }
  return joined;
}

/// Order-independent. The leaving nodes follow a line no host:port can
/// be; without any, the hash is the member list's alone.
uint64_t hash_of(const std::vector<std::string>& members,
                 const std::vector<std::string>& leaving) {
  auto text = lines_of(members);
  if (!leaving.empty())
    text += "leaving:\n" + lines_of(leaving);
  return stable_hash(text);
}

/// The members in one order on every node, whatever order node.members
/// lists them in: a member's index goes between nodes (the handoff's
/// requester), so it must name the same member everywhere.
std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace

membership::membership(std::vector<std::string> members, std::string self,
                       std::vector<std::string> leaving)
  : members_(sorted(std::move(members))),
    leaving_(sorted(std::move(leaving))),
    self_name_(std::move(self)),
    placement_(members_),
    members_hash_(hash_of(members_, {})),
    hash_(hash_of(members_, leaving_)) {
  for (size_t i = 0; i < members_.size(); ++i)
    if (members_[i] == self_name_)
      self_ = i;
}

caf::error membership::misdirected(std::string_view key) const {
  return verdict(key, owner(key));
}

caf::error membership::misdirected_group(std::string_view group,
                                         std::string_view what) const {
  return verdict(what, owner_of_group(group));
}

caf::error membership::verdict(std::string_view what, size_t owner) const {
  if (owner == self_)
    return {};
  auto here = self_ == none ? self_name_ + " (leaving the cluster)"
                            : members_[self_];
  return make_state_error(
    state_errc::backend_unavailable,
    "'" + std::string{what} + "' belongs to node " + members_[owner]
      + ", not to " + here
      + ": the sender's member list differs from this node's (a membership "
        "change under way, or a node whose node.members differs)");
}

caf::error membership::other_list(uint64_t sender_hash) const {
  if (sender_hash == hash_)
    return {};
  return make_state_error(state_errc::backend_unavailable,
                          "handoff: node " + self_name_
                            + " has another member list or node.leaving "
                              "than the sender (a membership change under "
                              "way, or a node whose node.members or "
                              "node.leaving differs; retried)");
}

} // namespace solver_state
