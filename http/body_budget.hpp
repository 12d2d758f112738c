#pragma once

// The bytes of request bodies the gateway holds, all connections together
// (http.max_pending_body_bytes): from the header of a request with a body
// until its answer (or its stream's start), what its storage has grown to
// as the body arrived (a header alone holds what the body reserves on it,
// 64 KiB at most: counted whole on Content-Length, four headers with no
// body after them held the whole budget). The per-request
// limits (http.max_body_bytes, http.max_import_bytes) bounded one body
// each, and nothing bounded how many were held at once: eight imports held
// one byte short of complete took the service from 31 MB to 562 MB, and
// the ceiling was http.max_connections x 64 MiB. A body that would pass
// the bound is answered 503 before more of it is read.

#include <cstddef>

#include "http/byte_budget.hpp"

namespace solver_state::gateway {

class body_budget : public byte_budget {
public:
  /// Bodies up to this size are never refused: an ordinary write's, and
  /// what a connection reads with a header anyway (its buffer holds the
  /// header and one read of 64 KiB).
  static constexpr size_t small_body = 64 * 1024;

  explicit body_budget(size_t limit) : byte_budget(limit, small_body) {}
};

} // namespace solver_state::gateway
