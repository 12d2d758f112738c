#pragma once

// What a shard keeps of its changes for the watch hub: the changes applied
// since its last group commit (sent to the hub once the commit made them
// durable, dropped if it failed), and, for backends that expire keys by
// themselves (Redis, PostgreSQL, DynamoDB: the shard never sees the key go),
// the expiry of every key it wrote with a TTL, so that it can tell the hub
// when that time has passed.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "messages/watch.hpp"

namespace solver_state {

struct pending_op;

/// The key and value of a write, copied before the store takes them.
struct change_copy {
  std::string key;
  std::string value;
};

class change_recorder {
public:
  /// Expiries tracked at most: beyond it, the keys expiring latest expire
  /// without an event (logged at the first, the tenth, the hundredth...).
  static constexpr size_t max_tracked_expiries = 250'000;

  /// `track_expiries`: the backend expires keys by itself. `owns`, when
  /// given, says which keys are this shard's: a store shared by every
  /// shard (one Redis, one PostgreSQL table) may apply a transaction's keys
  /// of other shards here, and only a key's owner tracks its expiry, since
  /// only it sees every later write of the key (follow_expiry tells it of
  /// such a transaction's).
  explicit change_recorder(bool track_expiries = false,
                           std::function<bool(std::string_view)> owns = {})
    : track_expiries_(track_expiries), owns_(std::move(owns)) {
  }

  bool tracks_expiries() const { return track_expiries_; }

  /// Whether this shard tracks `key`'s expiry: one of its own.
  bool owns(std::string_view key) const { return !owns_ || owns_(key); }

  /// What a read of `key` found it to expire at (0: no expiry, or gone),
  /// replacing what was tracked: a key of this shard that another shard
  /// wrote (a transaction it applied for several shards).
  void follow_expiry(const std::string& key, unix_ms expires_at);

  void put(std::string key, version_t version, std::string value,
           unix_ms expires_at);
  void erase(std::string key);
  /// A key the store dropped at its expiry (its sweep).
  void expired(std::string key);

  /// Stages an expire event for the tracked keys whose expiry is at or
  /// before `now`, at most `limit` of them (a million keys written with one
  /// TTL would otherwise reach the watch hub as one message larger than its
  /// history); true when more are due.
  bool expire_due(unix_ms now, size_t limit);

  /// Tracks exactly these expiries (key, expires_at), forgetting the others:
  /// what the engine holds after a gap in what this recorder was told.
  void track_only(std::vector<std::pair<std::string, unix_ms>> expiries);

  /// The copies a batch of `ops` needs, taken before the store applies it
  /// (it may move keys and values out).
  static void copy(const std::vector<pending_op>& ops,
                   std::vector<change_copy>& out);

  /// Records the outcome of every set and erase of `ops` that succeeded,
  /// with the copies taken before.
  void record(const std::vector<pending_op>& ops,
              std::vector<change_copy>& copies);

  bool empty() const { return staged_.empty(); }
  /// The staged changes, oldest first (the shard's indexes read them).
  const std::vector<change_event>& staged() const { return staged_; }
  size_t tracked() const { return due_.size(); }
  /// Keys left without an expire event because the table was full.
  uint64_t untracked() const { return untracked_; }

  /// The staged changes, in the order they were applied; empties the stage.
  std::vector<change_event> take();
  /// Forgets the staged changes (their commit failed: the store took them
  /// back). Tracked expiries stay: a stale one is at worst an event for a
  /// key that is already gone.
  void discard() { staged_.clear(); }

private:
  void stage(change_cause cause, std::string key, version_t version,
             std::string value, unix_ms expires_at = 0);
  void track(const std::string& key, unix_ms expires_at);
  void untrack(const std::string& key);
  /// With the table full: drops the latest-expiring key when `expires_at`
  /// is sooner (true: the new key may be tracked), counts and logs the
  /// key left out.
  bool make_room_before(unix_ms expires_at);
  /// Removes the by_time_ entry of `key` due at `at`.
  void unschedule(const std::string& key, unix_ms at);
  /// Stages the expiry of `key` when it was due at the last expire_due
  /// but left for a later one (past its bound): a write of the key would
  /// otherwise stop tracking it unheard.
  void expire_if_due(const std::string& key);

  bool track_expiries_;
  std::function<bool(std::string_view)> owns_;
  uint64_t untracked_ = 0;
  uint64_t next_untracked_warning_ = 1;
  std::vector<change_event> staged_;
  std::unordered_map<std::string, unix_ms> due_;
  std::multimap<unix_ms, std::string> by_time_;
  /// The time of the last expire_due.
  unix_ms last_due_check_ = 0;
};

} // namespace solver_state
