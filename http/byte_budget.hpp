#pragma once

// Bytes a kind of memory holds, all connections together, against a limit
// (http.max_pending_reply_bytes for answers, http.max_pending_body_bytes for
// request bodies). Each connection counts what it holds here; one that asks
// to hold more is refused when the total would pass the limit, except for a
// small amount (refusing it would save less than the refusal costs) and
// except when it is the only holder (one larger than the limit could
// otherwise never go through).

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace solver_state::gateway {

class byte_budget {
public:
  /// `never_refused`: a connection may always hold that much.
  byte_budget(size_t limit, size_t never_refused)
    : limit_(limit), never_refused_(never_refused) {
  }

  byte_budget(const byte_budget&) = delete;
  byte_budget& operator=(const byte_budget&) = delete;

  /// A connection that holds `own` bytes asks to hold `wanted` instead:
  /// granted (and counted) unless `wanted` is larger than never_refused
  /// and own, and the total would exceed the limit while other connections
  /// hold something.
  bool try_resize(size_t own, size_t wanted) {
    auto held = held_.load(std::memory_order_relaxed);
    for (;;) {
      auto others = held - std::min(held, own);
      auto next = others + wanted;
      if (wanted > never_refused_ && wanted > own && next > limit_
          && others > 0)
        return false;
      if (held_.compare_exchange_weak(held, next, std::memory_order_relaxed))
        return true;
    }
  }

  /// The same, never refused: for what is already allocated.
  void resize(size_t own, size_t now) {
    if (now >= own)
      held_.fetch_add(now - own, std::memory_order_relaxed);
    else
      held_.fetch_sub(own - now, std::memory_order_relaxed);
  }

  /// True when not even never_refused's worth is left beside what other
  /// connections hold (a connection holding `own`).
  bool spent(size_t own) const {
    auto held = held_.load(std::memory_order_relaxed);
    auto others = held - std::min(held, own);
    return others > 0 && others + never_refused_ > limit_;
  }

  size_t held() const { return held_.load(std::memory_order_relaxed); }
  size_t limit() const { return limit_; }

private:
  const size_t limit_;
  const size_t never_refused_;
  std::atomic<size_t> held_{0};
};

} // namespace solver_state::gateway
