#pragma once

// Which store node owns a key: rendezvous (highest random weight) hashing
// over the configured node names. Every node with the same peer list computes
// the same owner, and adding a node moves only the keys it now wins (about
// 1/n of them); removing one moves only its own keys.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>


namespace solver_state {

class rendezvous_placement {
public:
  /// `nodes` are the peers' names as configured ("host:port").
  explicit rendezvous_placement(std::vector<std::string> nodes);

  size_t size() const { return node_hashes_.size(); }

  /// Index of the node that owns `key`. Keys of one placement group (an
  /// order with its fills and settlements, the keys of one `{tag}`) share an
  /// owner, so a transaction over them runs on one node.
  size_t owner(std::string_view key) const;

  /// Index of the node that owns every key of `group` (see placement_group).
  size_t owner_of_group(std::string_view group) const;

private:
  std::vector<uint64_t> node_hashes_;
};

} // namespace solver_state
