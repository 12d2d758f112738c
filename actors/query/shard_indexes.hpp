#pragma once

// What a shard does with its declared indexes, apart from the actor: feed
// them its committed changes, build them from its backend at start (a
// chunk at a time, between requests), read keys into them again on
// request, and answer a query: the index finds the keys, the backend
// confirms them (and gives their values), so a page never names a key
// the backend does not hold at that version.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/query/index_set.hpp"
#include "config/config.hpp"
#include "messages/query.hpp"
#include "messages/watch.hpp"

namespace solver_state {

class state_store;
struct readable_batch;

class shard_indexes {
public:
  /// Keys one build step reads: one listing and one batch read, short
  /// enough that requests queued behind it wait well under a millisecond on
  /// a local backend.
  static constexpr uint32_t build_chunk = 512;

  /// Value bytes one build step reads at most (plus one value): large
  /// values are read a few at a time, never 512 at once.
  static constexpr size_t build_step_bytes = 1u << 20;

  /// Keys whose value could not be read (damaged, sealed under a key that
  /// is not configured) that are kept to be read again; past this many the
  /// indexes forget them and read every key again instead.
  static constexpr size_t max_unreadable_kept = 100'000;

  /// How often those keys are read again (a chunk at a time, from where
  /// the last retry stopped); when more were met than are kept, a refresh
  /// reads every key, and while refreshes keep meeting that many the wait
  /// doubles, up to an hour.
  static constexpr unix_ms unreadable_retry_ms = 60'000;
  static constexpr unix_ms max_unreadable_retry_ms = 3'600'000;

  /// Keys kept because the backend could not be reached (down, out of
  /// time; not one value's damage) are read again sooner: within a second
  /// of the failure, the wait doubling while retries find it still
  /// unreachable, up to unreadable_retry_ms; once it answers, a chunk per
  /// tick while chunks make progress. Their indexes are stale meanwhile.
  static constexpr unix_ms unreached_retry_ms = 1'000;

  /// Shard `shard` of `shard_count`. `owns`: whether a key belongs to this
  /// shard (a shared backend's transaction applied here may write other
  /// shards' keys: their owners index them).
  shard_indexes(std::vector<index_config> specs, uint32_t shard,
                uint32_t shard_count,
                std::function<bool(std::string_view)> owns);

  /// Takes the indexes from a snapshot the backend kept at the last clean
  /// stop (index_snapshot.hpp) instead of reading every value: the build
  /// is then done. Why not when it cannot (written for other indexes or
  /// another shard layout, damaged): the build runs as before.
  caf::error load(std::string_view snapshot);

  /// The indexes as a snapshot for the backend to keep; nothing while a
  /// build or a refresh has keys left to read (they are not whole).
  std::optional<std::string> snapshot() const;

  /// Feeds one committed change.
  void apply(const change_event& ev);

  /// Forgets `key`, which the backend no longer holds although no change
  /// said so (evicted under eviction: lru).
  void forget(const std::string& key);

  /// Forgets keys whose expiry passed (backends that expire by themselves).
  void expire(unix_ms now) { set_.expire(now); }

  /// True until the start-up build has read every key under the indexes'
  /// prefixes.
  bool building() const { return building_; }

  /// Reads every key under the indexes' prefixes again, from the start,
  /// while queries go on being answered (the indexes it corrects are
  /// nearly right): after a gap in a shared engine's change feed, writes of
  /// other nodes may be missing. True when no pass was running (the caller
  /// starts the steps).
  bool refresh();

  /// A build or a refresh has keys left to read.
  bool reading() const { return building_ || refreshing_; }

  /// One chunk of the build (or refresh): up to build_chunk keys, or
  /// build_step_bytes of values; true while more is left.
  caf::expected<bool> build_step(state_store& store, unix_ms now);

  /// Reads `keys` from the backend into the indexes again; when the
  /// backend cannot be read, keeps them to be read again later, as values
  /// that could not be read are (retry_unreadable).
  caf::error reindex(state_store& store, const std::vector<std::string>& keys,
                     unix_ms now);

  /// A read of `key` for the indexes failed (`why`, the backend down or
  /// the value undecodable): the indexes keep what they hold of it and read
  /// it again later, as a reindex does with keys it cannot read. Keys
  /// under no index, or of another shard, are ignored.
  void read_later(const std::string& key, const caf::error& why,
                  unix_ms now);

  /// Keys whose value a build, a refresh or a reindex could not read: the
  /// indexes keep what they held of them (nothing, after a build) and read
  /// them again later; a write of such a key indexes it at once.
  size_t unreadable_keys() const { return unreadable_.size(); }

  /// Whether any such key is left to read again (kept, or too many to
  /// keep).
  bool has_unreadable() const {
    return !unreadable_.empty() || unreadable_dropped_;
  }

  /// Whether retry_unreadable would read now.
  bool unreadable_retry_due(unix_ms now) const {
    // A retry further ahead than the longest wait was set before the
    // system clock stepped back (the shard follows it): due now, or it
    // would wait out the step as well.
    return has_unreadable() && !reading()
           && (now >= next_unreadable_retry_
               || next_unreadable_retry_ - now > max_unreadable_retry_ms);
  }

  /// Once every unreadable_retry_ms: reads up to build_chunk of those keys
  /// again, or, when more were met than max_unreadable_kept, starts a
  /// refresh. True when a refresh was started (the caller runs its steps).
  caf::expected<bool> retry_unreadable(state_store& store, unix_ms now);

  /// Whether the indexes hold `ev` (a change of a shared engine's feed:
  /// key, cause, version) as it changed the key, or need not: a put of a
  /// version they hold is this shard's own write, indexed at its commit; a
  /// removal of a key they do not hold changes nothing; a key of another
  /// shard or under no index is not theirs.
  bool holds(const change_event& ev) const;

  /// The keys of the changes the indexes do not hold, in their order:
  /// what following a shared engine's feed reads back.
  std::vector<std::string>
  unheld(const std::vector<change_event>& changes) const;

  /// What a read of `key` from the backend found (version 0: nothing),
  /// replacing what the indexes hold: a read made after every write of
  /// this shard that it may not see over.
  void take_read(const std::string& key, const entry& e);

  /// One page of `req`: the keys the index finds, confirmed by the
  /// backend, with their values when asked for, within `max_reply_bytes`
  /// of values. Both halves below, in one step.
  caf::expected<query_page> query(state_store& store, const query_request& req,
                                  unix_ms now, size_t max_reply_bytes);

  /// The first half: one page of `req` as the indexes hold it (keys,
  /// versions, sort values), not yet confirmed by the backend.
  caf::expected<query_page> find(const query_request& req, unix_ms now) const;

  /// The second half: the items of `found` (a find's page, perhaps from
  /// before some writes) that still match, confirmed by the backend, in
  /// their order, with values when asked for, within `max_reply_bytes`. A
  /// page that the budget cut has a next_cursor: after its last item.
  caf::expected<query_page> confirm(state_store& store,
                                    const query_request& req,
                                    std::vector<query_item> found, unix_ms now,
                                    size_t max_reply_bytes);

  size_t indexed_keys() const { return set_.keys(); }

private:
  /// Takes what a read of `keys` from `store` found; the values it could
  /// not read are kept to be read again, but those damaged for good.
  void take_reads(const state_store& store,
                  const std::vector<std::string>& keys, readable_batch& read);
  void keep_unreadable(const std::string& key);
  /// The backend could not be read: what is kept is read again soon
  /// (unreached_retry_ms).
  void retry_soon(unix_ms now);
  /// Confirms found[from, from + read.entries.size()) against what `read`
  /// found in `store`, onto `out` (`bytes`: of values on it so far); false
  /// when the page's values reached `max_reply_bytes` (its cursor is set).
  bool take_confirmed(const state_store& store, const query_request& req,
                      const index_set::resolved_query& conditions,
                      std::vector<query_item>& found, size_t from,
                      readable_batch& read, unix_ms now,
                      size_t max_reply_bytes, size_t& bytes, query_page& out);

  index_set set_;
  uint32_t shard_;
  uint32_t shard_count_;
  std::function<bool(std::string_view)> owns_;
  bool building_ = false;
  bool refreshing_ = false;
  /// The build (or refresh): the prefixes to read (none inside another),
  /// which one, and the last key read of it.
  std::vector<std::string> prefixes_;
  size_t prefix_at_ = 0;
  std::string after_;
  size_t built_ = 0;
  /// The largest value the last bounded read met, sizing the next one's
  /// first batch (read_readable_within): one for the build and the
  /// retries, one for query pages, whose values may differ in size.
  size_t build_value_bytes_ = 0;
  size_t page_value_bytes_ = 0;
  /// Keys to read again (bounded; unreadable_dropped_ when more were met),
  /// why the first one could not be read, and when to try next.
  std::set<std::string> unreadable_;
  bool unreadable_dropped_ = false;
  std::string unreadable_why_;
  unix_ms next_unreadable_retry_ = 0;
  unix_ms unreadable_retry_wait_ = unreadable_retry_ms;
  /// The wait after the last read the backend failed whole; 0 when the
  /// last one went through.
  unix_ms unreached_wait_ = 0;
  /// The last key a retry read: the next goes on after it.
  std::string retried_up_to_;
};

} // namespace solver_state
