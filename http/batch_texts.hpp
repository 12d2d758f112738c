#pragma once

// The text of a watch batch, formatted once for every stream (see
// http/watch_stream.cpp).

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "http/sse_event.hpp"
#include "messages/watch.hpp"

namespace solver_state::gateway {

/// Streams in step get the same batch (the hub shares one message): its
/// text is formatted by the first and copied by the others. A batch is
/// named by its stream, its first and last positions and its size: two
/// batches that share both ends hold changes of one key, so their
/// prefixes nest, and with as many changes they are the same batch.
class batch_texts {
public:
  std::shared_ptr<const std::string> text_of(const change_batch& b) {
    if (b.events.empty())
      return std::make_shared<const std::string>();
    key k{b.stream, b.events.front().seq, b.events.back().seq,
          b.events.size()};
    {
      std::lock_guard<std::mutex> lock{mx_};
      for (auto& s : slots_)
        if (s.k == k)
          if (auto text = s.text.lock())
            return text;
    }
    auto text = std::make_shared<std::string>();
    for (auto& ev : b.events)
      append_change_event(*text, b.stream, ev);
    std::lock_guard<std::mutex> lock{mx_};
    slots_[next_] = slot{k, text};
    next_ = (next_ + 1) % slots_.size();
    return text;
  }

private:
  struct key {
    uint64_t stream, first, last;
    size_t size;
    bool operator==(const key& o) const {
      return stream == o.stream && first == o.first && last == o.last
             && size == o.size;
    }
  };
  /// Held weakly: a text lives while a stream's outbox or write holds it,
  /// not for as long as the slot does (up to 8 batches of 23 MiB of text
  /// each stayed after every stream had written them, or left).
  struct slot {
    key k{};
    std::weak_ptr<const std::string> text;
  };
  std::mutex mx_;
  std::array<slot, 8> slots_;
  size_t next_ = 0;
};

} // namespace solver_state::gateway
