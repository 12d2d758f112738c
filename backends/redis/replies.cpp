// A hiredis reply reader that builds replies in a per-connection arena,
// rewound before each command, instead of one malloc per reply object.

#include "backends/redis/replies.hpp"

#include <algorithm>
#include <cstring>

#include <hiredis/hiredis.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

constexpr size_t alignment = alignof(std::max_align_t);

redis_reply_arena& arena_of(const redisReadTask* task) {
  return *static_cast<redis_reply_arena*>(task->privdata);
}

/// A reply of `type`, linked into its parent array as hiredis' own
/// constructors do.
redisReply* new_reply(const redisReadTask* task, int type) {
  auto* r = static_cast<redisReply*>(
    arena_of(task).allocate(sizeof(redisReply)));
  r->type = type;
  if (task->parent) {
    auto* parent = static_cast<redisReply*>(task->parent->obj);
    parent->element[task->idx] = r;
  }
  return r;
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  auto* buf = static_cast<char*>(arena_of(task).allocate_bytes(len + 1));
  std::memcpy(buf, str, len);
  buf[len] = '\0';
  auto* r = new_reply(task, task->type);
  r->str = buf;
  r->len = len;
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  auto* r = new_reply(task, REDIS_REPLY_ARRAY);
  if (elements > 0)
    r->element = static_cast<redisReply**>(arena_of(task).allocate(
      static_cast<size_t>(elements) * sizeof(redisReply*)));
  r->elements = static_cast<size_t>(std::max(elements, 0));
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  auto* r = new_reply(task, REDIS_REPLY_INTEGER);
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  return new_reply(task, REDIS_REPLY_NIL);
}

void free_object(void*) {
  // The arena owns every reply; rewind() releases them together.
}

redisReplyObjectFunctions arena_functions{create_string, create_array,
                                          create_integer, create_nil,
                                          free_object};

} // namespace

void* redis_reply_arena::allocate(size_t n) {
  auto* p = allocate_bytes(n);
  std::memset(p, 0, n);
  return p;
}

void* redis_reply_arena::allocate_bytes(size_t n) {
  n = (n + alignment - 1) / alignment * alignment;
  while (current_ < blocks_.size() && used_ + n > blocks_[current_].size) {
    ++current_;
    used_ = 0;
  }
  if (current_ == blocks_.size()) {
    auto size = std::max(block_bytes, n);
    blocks_.push_back({std::make_unique<std::byte[]>(size), size});
    used_ = 0;
  }
  auto* p = blocks_[current_].data.get() + used_;
  used_ += n;
  return p;
}

void redis_reply_arena::rewind() {
  // A huge reply (a large value, a long listing) leaves big blocks behind;
  // keep only what a typical round trip needs.
  size_t kept = 0;
  size_t keep = 0;
  while (keep < blocks_.size() && kept + blocks_[keep].size <= retained_bytes)
    kept += blocks_[keep++].size;
  blocks_.resize(keep);
  current_ = 0;
  used_ = 0;
}

void redis_reply_arena::attach(redisContext* ctx) {
  ctx->reader->fn = &arena_functions;
  ctx->reader->privdata = this;
}

std::string_view text_of(const redisReply* r) {
  return {r->str, r->len};
}

caf::error redis_error(std::string_view context, const redisReply* r) {
  return redis_error(context, text_of(r));
}

caf::error redis_error(std::string_view context, std::string_view text) {
  auto code = text.substr(0, text.find(' '));
  if (code == "OOM")
    return make_state_error(state_errc::insufficient_storage,
                            std::string{context} + std::string{text}
                              + " (Redis is at its maxmemory: free memory "
                                "or raise it)");
  bool transient = code == "READONLY" || code == "LOADING"
                   || code == "MASTERDOWN" || code == "NOREPLICAS"
                   || code == "BUSY" || code == "EXECABORT";
  return make_state_error(transient ? state_errc::backend_unavailable
                                    : state_errc::backend_error,
                          std::string{context} + std::string{text});
}

} // namespace solver_state
