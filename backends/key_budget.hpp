#pragma once

// state.max_items counts keys in the whole store, but each shard owns its own
// keys. The budget is the one piece the shards of a store share: a counter,
// not a map, so sharing it needs an atomic and no lock.

#include <atomic>
#include <cstddef>

namespace solver_state {

class key_budget {
public:
  /// `max_items` == 0 means unlimited.
  explicit key_budget(size_t max_items) : max_(max_items) {}

  /// Claims room for one new key; false when the store is full.
  bool try_take() {
    auto n = used_.fetch_add(1, std::memory_order_relaxed);
    if (max_ == 0 || n < max_)
      return true;
    used_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }

  /// Claims room unconditionally (keys loaded at start-up).
  void take() { used_.fetch_add(1, std::memory_order_relaxed); }

  void give_back(size_t n = 1) {
    used_.fetch_sub(n, std::memory_order_relaxed);
  }

  size_t used() const { return used_.load(std::memory_order_relaxed); }

  size_t max_items() const { return max_; }

private:
  const size_t max_;
  std::atomic<size_t> used_{0};
};

} // namespace solver_state
