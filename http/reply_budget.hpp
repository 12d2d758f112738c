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

#include <cstddef>

#include "http/byte_budget.hpp"

namespace solver_state::gateway {

class reply_budget : public byte_budget {
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

  /// try_resize (alone, any answer goes), resize (for what is already
  /// allocated: the buffer's capacity, a stream's next chunk), and spent:
  /// true when not even a small answer's worth is left beside what other
  /// connections hold, so a stream does not start, and a started one does
  /// not make its next chunk.
  explicit reply_budget(size_t limit) : byte_budget(limit, small_reply) {}
};

} // namespace solver_state::gateway
