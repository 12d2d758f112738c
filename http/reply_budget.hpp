#pragma once

// The bytes of answers the gateway holds for their clients, all connections
// together (http.max_pending_reply_bytes). An answer stays in the
// connection's buffer until the socket has taken all of it, which a client
// that stops reading delays by up to http.read_timeout. Without a bound,
// connections that fetch large values and never read them hold
// connections x the largest value (10,000 x 16 MiB by default). Each
// connection counts what its buffers hold here; an answer that would take
// the total past the bound is answered 503 instead, a stream does not start
// while the total is at the bound, and a started stream makes its next chunk
// only once there is room (so it passes the bound by one chunk at most). A
// stream that knows how large its chunks may be (an export) reserves each
// one before making it (reply_sink::reserve_chunk): it does not start
// without room for its first, and stays within the bound.

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace solver_state::gateway {

class reply_budget {
public:
  /// Answers up to this size are never refused: an error, a status or a
  /// small value costs less than its refusal would save, and a refusal is
  /// such an answer itself.
  static constexpr size_t small_reply = 64 * 1024;

  /// The buffer a connection keeps for its next answer, not counted here
  /// (http.max_connections bounds them); a larger one is given back once
  /// written, and one that size or smaller is counted only while it holds
  /// more than this.
  static constexpr size_t kept_buffer = 8 * 1024;

  explicit reply_budget(size_t limit) : limit_(limit) {}

  reply_budget(const reply_budget&) = delete;
  reply_budget& operator=(const reply_budget&) = delete;

  /// A connection that holds `own` bytes asks to hold `wanted` instead:
  /// granted (and counted) unless `wanted` is larger than small_reply and
  /// own, and the total would exceed the limit while other connections
  /// hold something (alone, any answer goes: one larger than the limit
  /// could otherwise never be sent).
  bool try_resize(size_t own, size_t wanted) {
    auto held = held_.load(std::memory_order_relaxed);
    for (;;) {
      auto others = held - std::min(held, own);
      auto next = others + wanted;
      if (wanted > small_reply && wanted > own && next > limit_ && others > 0)
        return false;
      if (held_.compare_exchange_weak(held, next, std::memory_order_relaxed))
        return true;
    }
  }

  /// The same, never refused: for what is already allocated (the
  /// buffer's capacity, a stream's next chunk).
  void resize(size_t own, size_t now) {
    if (now >= own)
      held_.fetch_add(now - own, std::memory_order_relaxed);
    else
      held_.fetch_sub(own - now, std::memory_order_relaxed);
  }

  /// True when not even a small answer's worth is left beside what other
  /// connections hold (a connection holding `own`): a stream does not start
  /// then, and a started one does not make its next chunk.
  bool spent(size_t own) const {
    auto held = held_.load(std::memory_order_relaxed);
    auto others = held - std::min(held, own);
    return others > 0 && others + small_reply > limit_;
  }

  size_t held() const { return held_.load(std::memory_order_relaxed); }
  size_t limit() const { return limit_; }

private:
  const size_t limit_;
  std::atomic<size_t> held_{0};
};

} // namespace solver_state::gateway
