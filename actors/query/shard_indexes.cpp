#include "actors/query/shard_indexes.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/query/index_snapshot.hpp"
#include "actors/query/query_cursor.hpp"
#include "backends/readable_batch.hpp"
#include "backends/state_store.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// The prefixes a build reads: each index's, without those inside another
/// (an empty prefix covers every key).
std::vector<std::string> build_prefixes(const std::vector<index_config>& specs) {
  std::vector<std::string> all;
  for (auto& s : specs)
    all.push_back(s.prefix);
  std::sort(all.begin(), all.end());
  std::vector<std::string> out;
  for (auto& p : all)
    if (out.empty() || p.compare(0, out.back().size(), out.back()) != 0)
      out.push_back(p);
  return out;
}

} // namespace

shard_indexes::shard_indexes(std::vector<index_config> specs, uint32_t shard,
                             uint32_t shard_count,
                             std::function<bool(std::string_view)> owns)
  : set_(specs),
    shard_(shard),
    shard_count_(shard_count),
    owns_(std::move(owns)) {
  prefixes_ = build_prefixes(specs);
  building_ = !prefixes_.empty();
}

caf::error shard_indexes::load(std::string_view snapshot) {
  if (!building_ || set_.keys() > 0)
    return make_state_error(state_errc::backend_error,
                            "the indexes hold keys already");
  if (auto err = load_index_snapshot(snapshot, shard_, shard_count_, set_))
    return err;
  building_ = false;
  prefix_at_ = 0;
  after_.clear();
  return {};
}

std::optional<std::string> shard_indexes::snapshot() const {
  // Keys not yet read are not in it: the next start reads every key.
  if (reading() || has_unreadable())
    return std::nullopt;
  return encode_index_snapshot(set_, shard_, shard_count_);
}

void shard_indexes::apply(const change_event& ev) {
  if (owns_ && !owns_(ev.key))
    return;
  set_.apply(ev);
  if (!unreadable_.empty())
    unreadable_.erase(ev.key); // the write says what it holds now
}

void shard_indexes::forget(const std::string& key) {
  take_read(key, entry{}); // as a read that found nothing
}

void shard_indexes::take_read(const std::string& key, const entry& e) {
  if (!unreadable_.empty())
    unreadable_.erase(key);
  if (e.version == 0)
    set_.erase(key);
  else
    set_.put(key, e.version, e.value, e.expires_at_ms);
}

bool shard_indexes::refresh() {
  if (prefixes_.empty())
    return false;
  bool idle = !reading();
  // A pass under way may have read keys that changed in the gap: start over.
  // Keys it does not meet are gone (deleted during the gap): forgotten at
  // its end.
  prefix_at_ = 0;
  after_.clear();
  set_.begin_pass();
  if (!building_)
    refreshing_ = true;
  return idle;
}

caf::expected<bool> shard_indexes::build_step(state_store& store,
                                              unix_ms now) {
  if (!reading())
    return false;
  auto& prefix = prefixes_[prefix_at_];
  auto page =
    store.list_owned(list_request{prefix, after_, build_chunk}, now);
  if (!page)
    return std::move(page.error());
  std::vector<std::string> keys;
  for (auto& key : page->keys)
    if ((!owns_ || owns_(key)) && set_.covers(key))
      keys.push_back(key);
  if (!keys.empty()) {
    auto read = read_readable_within(store, keys, now, build_step_bytes, 0,
                                     &build_value_bytes_);
    if (!read)
      return std::move(read.error());
    take_reads(store, keys, *read);
    built_ += read->entries.size();
    if (read->entries.size() < keys.size()) {
      // The step's bytes are read: the next one goes on after the last key
      // read.
      after_ = keys[read->entries.size() - 1];
      return true;
    }
  }
  if (!page->keys.empty())
    after_ = page->keys.back();
  if (page->more)
    return true;
  after_.clear();
  if (++prefix_at_ < prefixes_.size())
    return true;
  auto forgotten = set_.end_pass();
  spdlog::info("shard {}: indexes {}: {} keys read, {} indexed{}", shard_,
               building_ ? "built" : "read again after a gap in the change "
                                     "feed",
               built_, set_.keys(),
               forgotten == 0 ? std::string{}
                              : ", " + std::to_string(forgotten)
                                  + " gone since forgotten");
  if (has_unreadable()) {
    // Sooner when reads failed for the backend's absence meanwhile.
    next_unreadable_retry_ =
      unreached_wait_ > 0
        ? std::clamp(next_unreadable_retry_, now, now + unreached_wait_)
        : now + unreadable_retry_wait_;
    spdlog::warn("shard {}: {}{} values could not be read and are not "
                 "indexed (the first: {}); they are read again in {:.0f} s",
                 shard_, unreadable_dropped_ ? "more than " : "",
                 unreadable_dropped_ ? max_unreadable_kept
                                     : unreadable_.size(),
                 unreadable_why_,
                 next_unreadable_retry_ > now
                   ? static_cast<double>(next_unreadable_retry_ - now) / 1000
                   : 0.0);
  }
  building_ = refreshing_ = false;
  built_ = 0;
  return false;
}

caf::error shard_indexes::reindex(state_store& store,
                                  const std::vector<std::string>& keys,
                                  unix_ms now) {
  std::vector<std::string> mine;
  for (auto& key : keys)
    if ((!owns_ || owns_(key)) && set_.covers(key))
      mine.push_back(key);
  if (mine.empty())
    return {};
  auto read = read_readable(store, mine, now);
  if (!read) {
    // The backend could not be read (down, a connection lost): the keys
    // are read again later with the values that could not be.
    for (auto& key : mine)
      keep_unreadable(key);
    if (unreadable_why_.empty())
      unreadable_why_ = message_of(read.error());
    retry_soon(now);
    return std::move(read.error());
  }
  take_reads(store, mine, *read);
  return {};
}

void shard_indexes::take_reads(const state_store& store,
                               const std::vector<std::string>& keys,
                               readable_batch& read) {
  size_t u = 0; // into read.unreadable and read.reasons
  for (size_t i = 0; i < read.entries.size(); ++i) {
    if (u == read.unreadable.size() || read.unreadable[u] != i) {
      take_read(keys[i], read.entries[i]);
      continue;
    }
    auto& why = read.reasons[u++];
    if (store.damaged_for_good(keys[i])) {
      // It reads as nothing until a write or a delete, which the indexes
      // hear of: like a value they do not index, it has no entry, is not
      // read again, and leaves the snapshot whole (kept, it would make
      // every start rebuild the indexes from the values).
      take_read(keys[i], entry{});
      continue;
    }
    keep_unreadable(keys[i]);
    if (unreadable_why_.empty())
      unreadable_why_ = why;
  }
}

void shard_indexes::read_later(const std::string& key,
                               const caf::error& why, unix_ms now) {
  if ((owns_ && !owns_(key)) || !set_.covers(key))
    return;
  keep_unreadable(key);
  if (unreadable_why_.empty())
    unreadable_why_ = message_of(why);
  if (!is_value_error(why))
    retry_soon(now);
}

void shard_indexes::retry_soon(unix_ms now) {
  // Only a retry that finds the backend still unreachable doubles the
  // wait (retry_unreadable): one outage fails many reads at once.
  if (unreached_wait_ == 0)
    unreached_wait_ = unreached_retry_ms;
  // A retry already due (or long past) is not sooner: the backend just
  // failed, so it waits too.
  auto soon = now + unreached_wait_;
  if (next_unreadable_retry_ <= now || next_unreadable_retry_ > soon)
    next_unreadable_retry_ = soon;
}

void shard_indexes::keep_unreadable(const std::string& key) {
  set_.keep_in_pass(key); // as the indexes held it: not gone
  if (unreadable_dropped_)
    return;
  if (unreadable_.empty()) {
    // A new episode: an old outage's wait, and why, are over.
    unreached_wait_ = 0;
    unreadable_why_.clear();
  }
  if (unreadable_.size() < max_unreadable_kept) {
    unreadable_.insert(key);
    return;
  }
  unreadable_.clear(); // a refresh reads them all
  unreadable_dropped_ = true;
}

caf::expected<bool> shard_indexes::retry_unreadable(state_store& store,
                                                    unix_ms now) {
  if (!unreadable_retry_due(now))
    return false;
  if (unreadable_dropped_) {
    // Too many to keep: a refresh reads every key. Should it meet as many
    // again (values under a key that is gone for good), the next waits
    // twice as long.
    unreadable_dropped_ = false;
    unreadable_why_.clear();
    next_unreadable_retry_ = now + unreadable_retry_wait_;
    unreadable_retry_wait_ =
      std::min(2 * unreadable_retry_wait_, max_unreadable_retry_ms);
    return refresh();
  }
  unreadable_retry_wait_ = unreadable_retry_ms;
  next_unreadable_retry_ = now + unreadable_retry_ms;
  // A chunk from where the last retry stopped, wrapping around: keys that
  // stay unreadable for good do not keep the others from being retried.
  std::vector<std::string> keys;
  auto it = unreadable_.upper_bound(retried_up_to_);
  if (it == unreadable_.end())
    it = unreadable_.begin();
  for (; it != unreadable_.end() && keys.size() < build_chunk; ++it)
    keys.push_back(*it);
  auto read = read_readable_within(store, keys, now, build_step_bytes, 0,
                                     &build_value_bytes_);
  if (!read) {
    unreached_wait_ = unreached_wait_ == 0
                        ? unreached_retry_ms
                        : std::min(2 * unreached_wait_, unreadable_retry_ms);
    next_unreadable_retry_ = now + unreached_wait_;
    return std::move(read.error());
  }
  unreached_wait_ = 0;
  retried_up_to_ = keys[read->entries.size() - 1];
  auto kept = unreadable_.size();
  take_reads(store, keys, *read);
  // Keys it could read now (kept while the backend was away, as a whole
  // outage's worth may be): the next chunk goes at the next tick, not a
  // minute later. Values that stay unreadable wait the interval.
  if (unreadable_.size() < kept && !unreadable_.empty())
    next_unreadable_retry_ = now;
  return false;
}

bool shard_indexes::holds(const change_event& ev) const {
  if ((owns_ && !owns_(ev.key)) || !set_.covers(ev.key))
    return true;
  auto held = set_.version_of(ev.key);
  return ev.why() == change_cause::put ? held == ev.version : !held;
}

std::vector<std::string>
shard_indexes::unheld(const std::vector<change_event>& changes) const {
  std::vector<std::string> keys;
  for (auto& ev : changes)
    if (!holds(ev))
      keys.push_back(ev.key);
  return keys;
}

caf::expected<query_page> shard_indexes::query(state_store& store,
                                               const query_request& req,
                                               unix_ms now,
                                               size_t max_reply_bytes) {
  auto found = find(req, now);
  if (!found || found->items.empty())
    return found;
  auto page = confirm(store, req, std::move(found->items), now,
                      max_reply_bytes);
  if (page && page->next_cursor.empty())
    page->next_cursor = std::move(found->next_cursor);
  return page;
}

caf::expected<query_page> shard_indexes::find(const query_request& req,
                                              unix_ms now) const {
  if (auto err = set_.problem(req))
    return err; // a bad query is told so, built or not
  if (building_)
    return make_state_error(
      state_errc::backend_unavailable,
      "the indexes are being built (shard " + std::to_string(shard_) + ": "
        + std::to_string(built_)
        + " keys read so far); queries are answered once they are");
  return set_.run(req, now);
}

namespace {

/// A cursor that resumes after the last item of `page`.
std::string cursor_after_last(const query_request& req,
                              const query_page& page) {
  query_position last;
  if (!req.order_by.empty())
    last.value = page.items.back().sort_value;
  last.key = page.items.back().key;
  return encode_cursor(req, last);
}

} // namespace

caf::expected<query_page> shard_indexes::confirm(state_store& store,
                                                 const query_request& req,
                                                 std::vector<query_item> found,
                                                 unix_ms now,
                                                 size_t max_reply_bytes) {
  if (auto err = set_.problem(req))
    return err;
  query_page out;
  index_set::resolved_query conditions{set_, req};
  size_t bytes = 0; // of values on the page
  size_t done = 0;  // found items read and decided
  std::vector<std::string> keys;
  keys.reserve(found.size());
  for (auto& item : found)
    keys.push_back(item.key);
  // Values are read up to the reply budget at a time (with values or
  // without: a page of large values is never all in memory at once); a
  // page that ends early resumes after its last item.
  while (done < found.size()) {
    auto read =
      read_readable_within(store, keys, now, max_reply_bytes, done,
                           &page_value_bytes_);
    if (!read)
      return std::move(read.error());
    if (!take_confirmed(store, req, conditions, found, done, *read, now,
                        max_reply_bytes, bytes, out))
      break; // the values on the page reached the budget
    done += read->entries.size();
    if (done < found.size() && !out.items.empty()) {
      out.next_cursor = cursor_after_last(req, out);
      break;
    }
  }
  return out;
}

bool shard_indexes::take_confirmed(const state_store& store,
                                   const query_request& req,
                                   const index_set::resolved_query& conditions,
                                   std::vector<query_item>& found,
                                   size_t from, readable_batch& read,
                                   unix_ms now, size_t max_reply_bytes,
                                   size_t& bytes, query_page& out) {
  auto unreadable = read.unreadable.begin();
  for (size_t j = 0; j < read.entries.size(); ++j) {
    auto& item = found[from + j];
    auto& e = read.entries[j];
    if (unreadable != read.unreadable.end() && *unreadable == j) {
      // Its value cannot be read now (a get of it answers why): left out of
      // the page, kept in the indexes as they hold it; but one damaged for
      // good (quarantined by this read or an earlier one) leaves them, as a
      // build leaves it out: it reads as nothing until written or deleted.
      ++unreadable;
      spdlog::debug("shard {}: query left out {}: {}", shard_, item.key,
                    message_of(read.first_problem));
      if (store.damaged_for_good(item.key))
        take_read(item.key, entry{});
      continue;
    }
    if (e.version != item.version) {
      // Written since it was found, the key stays when it still matches in
      // the same place and the index holds what the backend does.
      auto now_at = set_.still_matches(req, conditions, item, now);
      if (!now_at || *now_at != e.version) {
        // Else the index missed a change (an eviction, a drift), or had not
        // heard of it yet (another instance's write, its feed message still
        // on the way), or the write took the key out of this page: the
        // index reads it again, and the key stays when, read, it still
        // matches in the same place.
        spdlog::debug("shard {}: index of {} was at version {}, the "
                      "backend at {}",
                      shard_, item.key, now_at.value_or(item.version),
                      e.version);
        take_read(item.key, e);
        now_at = set_.still_matches(req, conditions, item, now);
        if (!now_at || *now_at != e.version)
          continue;
      }
      item.version = e.version;
    }
    if (req.with_values) {
      // The first value always fits; past the budget the page ends early
      // and the cursor resumes after its last item.
      if (!out.items.empty() && bytes + e.value.size() > max_reply_bytes) {
        out.next_cursor = cursor_after_last(req, out);
        return false;
      }
      bytes += e.value.size();
      item.value = std::move(e.value);
    }
    out.items.push_back(std::move(item));
  }
  return true;
}

} // namespace solver_state
