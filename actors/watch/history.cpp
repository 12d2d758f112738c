#include "actors/watch/history.hpp"

#include <algorithm>

#include <caf/make_message.hpp>
#include <caf/type_id.hpp>

#include "messages/type_ids.hpp"

namespace solver_state {

size_t footprint(const change_event& ev) {
  return sizeof(change_event) + ev.key.size() + ev.value.size();
}

change_history::change_history(uint64_t stream, size_t max_events,
                               size_t max_bytes)
  : stream_(stream),
    max_events_(max_events == 0 ? 1 : max_events),
    max_bytes_(max_bytes) {
}

uint64_t change_history::first() const {
  if (!chunks_.empty())
    return chunks_.front().first;
  if (!open_.empty())
    return open_.front().seq;
  return last_ + 1;
}

void change_history::append(change_event&& ev) {
  ev.seq = ++last_;
  auto n = footprint(ev);
  bytes_ += n;
  open_bytes_ += n;
  ++events_;
  open_.push_back(std::move(ev));
  if (open_.size() >= max_chunk_events || open_bytes_ >= max_chunk_bytes)
    seal();
}

void change_history::seal() {
  if (open_.empty())
    return;
  change_chunk c;
  c.first = open_.front().seq;
  c.last = open_.back().seq;
  c.bytes = open_bytes_;
  c.msg = caf::make_message(change_batch{stream_, std::move(open_)});
  chunks_.push_back(std::move(c));
  open_.clear();
  open_bytes_ = 0;
}

void change_history::trim(
  const std::function<void(const change_event&)>& dropped) {
  while (!chunks_.empty()
         && (events_ > max_events_ || bytes_ > max_bytes_)) {
    auto& oldest = chunks_.front();
    for (auto& ev : oldest.batch().events)
      dropped(ev);
    events_ -= oldest.last - oldest.first + 1;
    bytes_ -= oldest.bytes;
    chunks_.pop_front();
  }
}

const change_chunk* change_history::chunk_of(uint64_t seq) const {
  if (chunks_.empty() || seq < chunks_.front().first
      || seq > chunks_.back().last)
    return nullptr;
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), seq,
                             [](uint64_t s, const change_chunk& c) {
                               return s < c.first;
                             });
  auto* before = &*(it - 1);
  if (seq <= before->last)
    return before;
  return &*it; // a number skip() took: the chunk after it
}

void change_history::skip() {
  seal();
  ++last_;
}

} // namespace solver_state
