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
  /// Compare-and-swap, not add-then-undo: with add-then-undo, two shards
  /// racing for the last free key could both see the counter past the
  /// limit for a moment and both refuse, although one of them fits.
  bool try_take() {
    if (max_ == 0) {
      used_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    auto n = used_.load(std::memory_order_relaxed);
    do {
      if (n >= max_)
        return false;
    } while (!used_.compare_exchange_weak(n, n + 1,
                                          std::memory_order_relaxed));
    return true;
  }

  /// Claims room unconditionally (keys loaded at start-up).
  void take(size_t n = 1) { used_.fetch_add(n, std::memory_order_relaxed); }

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
