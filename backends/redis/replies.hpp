#pragma once

// Where a connection's replies live. hiredis' default reader allocates every
// reply object and every string separately, and a plain write has five
// replies (MULTI's OK, three QUEUED, EXEC's array of three): about a dozen
// mallocs and frees per write on the shard's thread. Here the reader builds
// replies in an arena owned by the connection, which is rewound when the
// next command goes out, so a reply is valid until then.

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include <caf/error.hpp>

struct redisContext;
struct redisReply;

namespace solver_state {

class redis_reply_arena {
public:
  /// Zeroed memory for `n` bytes, aligned for any reply field.
  void* allocate(size_t n);

  /// The same, not zeroed (for string bytes).
  void* allocate_bytes(size_t n);

  /// Forgets every reply; keeps up to retained_bytes of blocks for reuse.
  void rewind();

  /// Makes `ctx`'s reader build its replies here.
  void attach(redisContext* ctx);

private:
  static constexpr size_t block_bytes = 64 * 1024;
  static constexpr size_t retained_bytes = 1024 * 1024;

  struct block {
    std::unique_ptr<std::byte[]> data;
    size_t size = 0;
  };

  std::vector<block> blocks_;
  size_t current_ = 0; // block being filled
  size_t used_ = 0;    // bytes used in it
};

/// A reply, held by its connection's arena: valid until the connection's
/// next command or pipeline.
class redis_reply {
public:
  redis_reply() = default;
  explicit redis_reply(const redisReply* r) : r_(r) {}

  const redisReply* get() const { return r_; }
  const redisReply* operator->() const { return r_; }

private:
  const redisReply* r_ = nullptr;
};

/// The bytes of a string, status or error reply.
std::string_view text_of(const redisReply* r);

/// An error reply of Redis as the caller's error, prefixed by `context`. A
/// server that cannot take the command now but will soon (READONLY: a
/// master demoted by a failover; LOADING; MASTERDOWN; NOREPLICAS; BUSY; a
/// MULTI discarded because a queued write was refused) is
/// backend_unavailable, which callers retry; a write refused at `maxmemory`
/// (OOM) is insufficient_storage, as a full disk is for the file backend;
/// anything else backend_error.
caf::error redis_error(std::string_view context, const redisReply* r);

/// The same for the text of an error reply.
caf::error redis_error(std::string_view context, std::string_view text);

} // namespace solver_state
