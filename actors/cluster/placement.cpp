// Rendezvous hashing of placement groups over the configured node names.

#include "actors/cluster/placement.hpp"

#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

/// splitmix64's finalizer: FNV-1a alone mixes its last bytes poorly, and a
/// XOR of two FNV hashes would rank nodes nearly the same for similar keys.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

} // namespace

rendezvous_placement::rendezvous_placement(std::vector<std::string> nodes) {
  node_hashes_.reserve(nodes.size());
  for (auto& n : nodes)
    node_hashes_.push_back(mix(stable_hash(n)));
}

size_t rendezvous_placement::owner(std::string_view key) const {
  return owner_of_group(placement_group(key));
}

size_t rendezvous_placement::owner_of_group(std::string_view group) const {
  auto h = stable_hash(group);
  size_t best = 0;
  uint64_t best_score = 0;
  for (size_t i = 0; i < node_hashes_.size(); ++i) {
    auto score = mix(h ^ node_hashes_[i]);
    if (i == 0 || score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return best;
}

} // namespace solver_state
