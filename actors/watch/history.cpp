#include "actors/watch/history.hpp"

namespace solver_state {

size_t footprint(const change_event& ev) {
  return sizeof(change_event) + ev.key.size() + ev.value.size();
}

change_history::change_history(size_t max_events, size_t max_bytes)
  : max_events_(max_events == 0 ? 1 : max_events), max_bytes_(max_bytes) {
}

void change_history::append(change_event&& ev) {
  ev.seq = ++last_;
  bytes_ += footprint(ev);
  events_.push_back(std::move(ev));
}

void change_history::trim(
  const std::function<void(const change_event&)>& dropped) {
  while (!events_.empty()
         && (events_.size() > max_events_ || bytes_ > max_bytes_)) {
    auto& oldest = events_.front();
    dropped(oldest);
    bytes_ -= footprint(oldest);
    events_.pop_front();
  }
}

uint64_t change_history::collect(uint64_t next, std::string_view prefix,
                                 size_t max_events, size_t max_bytes,
                                 std::vector<change_event>& out) const {
  if (next < first())
    next = first();
  size_t taken_bytes = 0;
  for (auto i = static_cast<size_t>(next - first()); i < events_.size(); ++i) {
    auto& ev = events_[i];
    if (!under(ev, prefix))
      continue;
    if (!out.empty()
        && (out.size() >= max_events
            || taken_bytes + footprint(ev) > max_bytes))
      return ev.seq;
    taken_bytes += footprint(ev);
    out.push_back(ev);
  }
  return last_ + 1;
}

} // namespace solver_state
