#pragma once

// The key-value protocol: what a client sends to the store and what it gets
// back. Every struct has its inspect() right under it so CAF can serialize it
// (in-process copies, and the wire between nodes).

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace solver_state {

/// Opaque version of a stored value; changes on every successful write.
/// Zero is never a real version: it marks "absent" in batch results.
using version_t = uint64_t;

/// Wall-clock milliseconds since the Unix epoch.
using unix_ms = int64_t;

/// A stored value with its version. expires_at_ms == 0 means it never expires.
struct entry {
  std::string value;
  version_t version = 0;
  unix_ms expires_at_ms = 0;

  bool found() const { return version != 0; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entry& x) {
  return f(caf::meta::type_name("solver_state::entry"), x.value, x.version,
           x.expires_at_ms);
}

/// A precondition on a write: none, "the current version is V", or "the key
/// does not exist" (create-only, HTTP's If-None-Match: *).
struct condition {
  enum kind_t : uint8_t { none = 0, if_version = 1, if_absent = 2 };
  uint8_t kind = none;
  version_t version = 0;

  static condition always() { return {}; }
  static condition matches(version_t v) { return {if_version, v}; }
  static condition absent() { return {if_absent, 0}; }

  /// False for a kind outside kind_t (a CAF sender's bad value): the stores
  /// test only if_version and if_absent, so such a condition would make a
  /// conditional write a blind one. Every write refuses it.
  bool known() const { return kind <= if_absent; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, condition& x) {
  return f(caf::meta::type_name("solver_state::condition"), x.kind, x.version);
}

/// TTL value meaning "use the store's default TTL" (state.ttl_seconds).
constexpr int64_t default_ttl = -1;

/// set(key, value) with an optional TTL and precondition.
struct set_request {
  std::string key;
  std::string value;
  int64_t ttl_ms = default_ttl; // 0 = never expire, >0 = expire after, -1 = default
  condition cond;
  /// When > 0, the absolute expiry (wall-clock ms) and ttl_ms is ignored: a
  /// restored backup keeps the expiry it was exported with, not one shifted
  /// by the time the message took to reach the shard.
  unix_ms expires_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, set_request& x) {
  return f(caf::meta::type_name("solver_state::set_request"), x.key, x.value,
           x.ttl_ms, x.cond, x.expires_at_ms);
}

/// What a set did: the key's new version, and whether the key was absent
/// (or expired) before it, so HTTP can answer 201 Created rather than 204.
struct write_result {
  version_t version = 0;
  bool created = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_result& x) {
  return f(caf::meta::type_name("solver_state::write_result"), x.version,
           x.created);
}

/// delete(key) with an optional precondition. Deleting an absent key succeeds
/// unless a version is required.
struct delete_request {
  std::string key;
  condition cond;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delete_request& x) {
  return f(caf::meta::type_name("solver_state::delete_request"), x.key, x.cond);
}

/// Most keys (or ids) one list message answers with: a list asking for more,
/// or for "all" (limit 0), gets this many and `more`, so no single message
/// makes a shard build an unbounded reply.
constexpr uint32_t max_list_page = 10'000;

/// list(prefix): keys starting with `prefix`, strictly after `after`, sorted,
/// at most `limit` of them (0 or more than max_list_page: max_list_page).
struct list_request {
  std::string prefix;
  std::string after;
  uint32_t limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_request& x) {
  return f(caf::meta::type_name("solver_state::list_request"), x.prefix,
           x.after, x.limit);
}

/// One page of a listing. `more` is true when keys after the last one exist;
/// the next page starts after keys.back().
struct key_page {
  std::vector<std::string> keys;
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_page& x) {
  return f(caf::meta::type_name("solver_state::key_page"), x.keys, x.more);
}

/// batch_get(keys): one entry per key, in request order; absent keys have
/// version 0. At most the store's max_batch_keys keys (http.max_batch_keys),
/// each named once, else bad_request.
///
/// A stored value that cannot be read (altered or cut short on disk, sealed
/// under an encryption key that is not configured) fails the whole batch
/// with its backend_error, unless `skip_unreadable`: then the batch answers
/// every other key and names that one in batch_reply::unreadable. A backend
/// that cannot answer at all fails the batch either way.
struct batch_request {
  std::vector<std::string> keys;
  bool skip_unreadable = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_request& x) {
  return f(caf::meta::type_name("solver_state::batch_request"), x.keys,
           x.skip_unreadable);
}

/// A key of a batch whose stored value could not be read, and why (the
/// message of its backend_error).
struct unreadable_value {
  std::string key;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, unreadable_value& x) {
  return f(caf::meta::type_name("solver_state::unreadable_value"), x.key,
           x.reason);
}

/// The entries of the first keys of a batch_request, in request order, and
/// the keys after them (`unprocessed`, in request order) that did not fit
/// the store's max_reply_bytes of values: ask again for those, as with
/// DynamoDB's BatchGetItem. At least one key is always answered.
///
/// `unreadable` (only with batch_request::skip_unreadable) names the
/// answered keys whose values could not be read, in request order; their
/// entries have version 0 like absent keys, so a reader that skips this
/// list must not take them for absent.
struct batch_reply {
  std::vector<entry> entries;
  std::vector<std::string> unprocessed;
  std::vector<unreadable_value> unreadable;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batch_reply& x) {
  return f(caf::meta::type_name("solver_state::batch_reply"), x.entries,
           x.unprocessed, x.unreadable);
}

/// delete_prefix(prefix): removes every live key starting with `prefix`, one
/// key at a time through the same erase a single delete takes (so each
/// removal is its own event), in chunks between which the shard serves its
/// other requests. The prefix must not be empty (bad_request): a store is
/// not emptied by accident. `limit` bounds one call's work: each shard
/// removes at most that many keys before it answers (0 = no bound), so a
/// caller behind a timeout (HTTP, a cluster peer) repeats the call while
/// the answer says `more`. Keys written under the prefix while a call runs
/// may or may not be removed by it.
struct delete_prefix_request {
  std::string prefix;
  uint64_t limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        delete_prefix_request& x) {
  return f(caf::meta::type_name("solver_state::delete_prefix_request"),
           x.prefix, x.limit);
}

/// What a delete_prefix did: how many live keys it removed (expired ones are
/// not counted), and whether keys under the prefix may remain because a
/// shard stopped at the request's limit.
struct delete_prefix_result {
  uint64_t deleted = 0;
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        delete_prefix_result& x) {
  return f(caf::meta::type_name("solver_state::delete_prefix_result"),
           x.deleted, x.more);
}

} // namespace solver_state
