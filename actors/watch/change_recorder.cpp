#include "actors/watch/change_recorder.hpp"

#include <spdlog/spdlog.h>

#include "backends/state_store.hpp"

namespace solver_state {

void change_recorder::stage(change_cause cause, std::string key,
                            version_t version, std::string value,
                            unix_ms expires_at) {
  change_event ev;
  ev.cause = static_cast<uint8_t>(cause);
  ev.key = std::move(key);
  ev.version = version;
  ev.value = std::move(value);
  ev.expires_at_ms = expires_at;
  staged_.push_back(std::move(ev));
}

void change_recorder::expire_if_due(const std::string& key) {
  auto it = due_.find(key);
  if (it == due_.end() || it->second > last_due_check_)
    return;
  unschedule(key, it->second);
  due_.erase(it);
  stage(change_cause::expire, key, 0, {});
}

void change_recorder::put(std::string key, version_t version,
                          std::string value, unix_ms expires_at) {
  if (track_expiries_) {
    expire_if_due(key);
    if (expires_at > 0)
      track(key, expires_at);
    else
      untrack(key);
  }
  stage(change_cause::put, std::move(key), version, std::move(value),
        expires_at);
}

void change_recorder::erase(std::string key) {
  if (track_expiries_) {
    expire_if_due(key);
    untrack(key);
  }
  stage(change_cause::del, std::move(key), 0, {});
}

void change_recorder::expired(std::string key) {
  if (track_expiries_)
    untrack(key); // gone: no later expiry of it to tell
  stage(change_cause::expire, std::move(key), 0, {});
}

void change_recorder::follow_expiry(const std::string& key,
                                    unix_ms expires_at) {
  if (!track_expiries_)
    return;
  if (expires_at > 0)
    track(key, expires_at);
  else
    untrack(key);
}

void change_recorder::track(const std::string& key, unix_ms expires_at) {
  if (!owns(key))
    return; // its owner tracks it
  auto it = due_.find(key);
  if (it == due_.end()) {
    if (due_.size() >= max_tracked_expiries && !make_room_before(expires_at))
      return;
    due_.emplace(key, expires_at);
  } else {
    unschedule(key, it->second);
    it->second = expires_at;
  }
  by_time_.emplace(expires_at, key);
}

bool change_recorder::make_room_before(unix_ms expires_at) {
  // The table is full: keep the soonest expiries. A key expiring later
  // than every tracked one is the one left out; otherwise the latest
  // tracked key makes room (a one-second lock must not lose its event to
  // orders that expire in an hour).
  bool admit = expires_at < by_time_.rbegin()->first;
  if (admit) {
    auto latest = std::prev(by_time_.end());
    due_.erase(latest->second);
    by_time_.erase(latest);
  }
  ++untracked_;
  // Powers of ten: an operator hears of it without a line per write.
  if (untracked_ == next_untracked_warning_) {
    spdlog::warn("watch: more than {} keys with a TTL to follow; the ones "
                 "expiring latest expire without an expire event ({} so far; "
                 "a restart of the change feed tracks the soonest again)",
                 max_tracked_expiries, untracked_);
    next_untracked_warning_ *= 10;
  }
  return admit;
}

void change_recorder::unschedule(const std::string& key, unix_ms at) {
  auto [first, last] = by_time_.equal_range(at);
  for (auto it = first; it != last; ++it)
    if (it->second == key) {
      by_time_.erase(it);
      return;
    }
}

void change_recorder::untrack(const std::string& key) {
  auto it = due_.find(key);
  if (it == due_.end())
    return;
  unschedule(key, it->second);
  due_.erase(it);
}

void change_recorder::track_only(
  std::vector<std::pair<std::string, unix_ms>> expiries) {
  due_.clear();
  by_time_.clear();
  for (auto& [key, at] : expiries)
    track(key, at);
}

bool change_recorder::expire_due(unix_ms now, size_t limit) {
  last_due_check_ = now;
  for (size_t n = 0; n < limit; ++n) {
    if (by_time_.empty() || by_time_.begin()->first > now)
      return false;
    auto node = by_time_.extract(by_time_.begin());
    due_.erase(node.mapped());
    expired(std::move(node.mapped()));
  }
  return !by_time_.empty() && by_time_.begin()->first <= now;
}

void change_recorder::copy(const std::vector<pending_op>& ops,
                           std::vector<change_copy>& out) {
  out.clear();
  out.reserve(ops.size());
  for (auto& op : ops) {
    if (op.kind == pending_op::set)
      out.push_back({op.write.key, op.write.value});
    else if (op.kind == pending_op::erase)
      out.push_back({op.removal.key, {}});
    else
      out.emplace_back();
  }
}

void change_recorder::record(const std::vector<pending_op>& ops,
                             std::vector<change_copy>& copies) {
  for (size_t i = 0; i < ops.size() && i < copies.size(); ++i) {
    auto& op = ops[i];
    if (op.kind == pending_op::set && op.written)
      put(std::move(copies[i].key), op.written->version,
          std::move(copies[i].value), op.expires_at);
    else if (op.kind == pending_op::erase && op.erased && *op.erased)
      erase(std::move(copies[i].key));
  }
  copies.clear();
}

std::vector<change_event> change_recorder::take() {
  std::vector<change_event> out;
  out.swap(staged_);
  return out;
}

} // namespace solver_state
