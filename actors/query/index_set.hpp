#pragma once

// A shard's declared indexes (state.indexes), kept in memory beside its
// keys: for each index, its entries ordered by (field, key), and for each
// indexed key its version, expiry and fields. The shard feeds it every
// committed change (put, delete, expiry) in commit order, so it holds
// exactly the committed state of the shard's keys; queries run on it and
// never touch a value they do not return.

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/btree_set.h>
#include <absl/container/node_hash_map.h>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "actors/query/index_codes.hpp"
#include "actors/query/json_fields.hpp"
#include "config/config.hpp"
#include "messages/query.hpp"
#include "messages/watch.hpp"

namespace solver_state {

/// <0, 0, >0 as `a` sorts before, with, after `b`: numbers first, then
/// strings (the order of messages/query.hpp's index_value).
int compare_values(const index_value& a, const index_value& b);

class index_set {
public:
  explicit index_set(std::vector<index_config> specs);

  index_set(const index_set&) = delete;
  index_set& operator=(const index_set&) = delete;

  /// No index declared.
  bool empty() const { return specs_.empty(); }
  const std::vector<index_config>& specs() const { return specs_; }

  /// True when some index's prefix covers `key`.
  bool covers(std::string_view key) const;

  /// The key's committed value, replacing what it had. A value that is not
  /// a JSON object, or has none of the fields, leaves the key unindexed.
  /// What comes last wins, whatever its version: the shard feeds the set in
  /// the order things happened (its commits, and reads made after draining
  /// its writes), while versions need not grow with time (on a shared Redis
  /// each instance numbers its writes from a block of its own).
  void put(const std::string& key, version_t version, std::string_view value,
           unix_ms expires_at);

  /// The version the set holds of `key`, or nullopt when it is not indexed.
  std::optional<version_t> version_of(const std::string& key) const;

  /// Loading a whole set at once (a snapshot of the indexes), into an
  /// empty set: load_key for every key, with its fields already extracted
  /// (one per index), then finish_loading, which sorts each index's entries
  /// once and builds its B-tree in order, several times faster than a
  /// search per key and index. Nothing else may run on the set between.
  void reserve(size_t keys) { keys_.reserve(keys); }
  void load_key(std::string key, version_t version,
                std::vector<std::optional<index_value>> fields,
                unix_ms expires_at);
  void finish_loading();
  void erase(const std::string& key);
  void apply(const change_event& ev);

  /// Forgets keys whose expiry is at or before `now` (those the backend
  /// expires by itself); how many.
  size_t expire(unix_ms now);

  size_t keys() const { return keys_.size(); }

  /// A pass that reads every key again (a refresh after a gap in a shared
  /// engine's change feed): the keys placed while it runs, or kept by
  /// keep_in_pass (read and found unreadable), are seen; end_pass forgets
  /// every other key, gone from the backend during the gap (a delete the
  /// feed never told), and says how many. begin_pass again starts over.
  void begin_pass();
  void keep_in_pass(const std::string& key);
  size_t end_pass();

  using key_visitor = std::function<void(
    const std::string& key, version_t version, unix_ms expires_at,
    const std::vector<std::optional<index_value>>& fields)>;
  /// Calls `visit` with every indexed key, in no particular order.
  void each(const key_visitor& visit) const;

  /// Why `req` cannot run (bad_request naming the problem), or none.
  caf::error problem(const query_request& req) const;

  /// The keys after the request's cursor that match, with versions and
  /// sort values (no values), at most the page limit; next_cursor set
  /// when more may match.
  caf::expected<query_page> run(const query_request& req, unix_ms now) const;
  /// Index entries and memoized group members the last run() visited: its
  /// work, for tests.
  size_t visits() const { return visits_; }

  /// The conditions of a request (checked by problem()) resolved once,
  /// for still_matches over the items of a page.
  class resolved_query;

  /// The version the index holds of an item of an earlier page of `req`
  /// (run) when the key still matches with the same sort value: a write
  /// between a collector's find and its confirmation leaves the item where
  /// the page put it, or takes it out of the page (nullopt).
  std::optional<version_t> still_matches(const query_request& req,
                                         const resolved_query& conditions,
                                         const query_item& item,
                                         unix_ms now) const;

private:
  struct record;
  /// Node-based: an entry's pointer to its key's node stays valid while
  /// the key is indexed. absl's node map finds a key in a probe of its
  /// control bytes, where std::unordered_map chases a bucket's list: the
  /// index set alone puts 200,000 orders 20-35% faster and updates them
  /// 12-20% faster (bench/README.md, "The key map of the index set").
  using key_map = absl::node_hash_map<std::string, record>;
  using node = key_map::value_type;

  /// One key's field in one index, ordered by (value, key): 40 bytes that
  /// order themselves by their codes, reading the key's record only when
  /// two codes tie and cannot tell (a long string, a key's first 16 bytes
  /// past the prefix).
  struct entry {
    value_code value;
    key_head head;
    const node* owner;
  };

  /// A point in one index's order: a value and a key, or the place before
  /// (-1) or after (+1) every key with that value.
  struct probe {
    const index_value* value;
    value_code code;
    std::string_view key;
    key_head head;
    bool has_head; // the key is under the index's prefix
    int key_side = 0;
  };

  /// The order of index `index` (whose fields the records hold at that
  /// position).
  struct entry_less {
    using is_transparent = void;
    size_t index;

    int three_way(const entry& a, const entry& b) const;
    int three_way(const entry& a, const probe& b) const;
    bool operator()(const entry& a, const entry& b) const {
      return three_way(a, b) < 0;
    }
    bool operator()(const entry& a, const probe& b) const {
      return three_way(a, b) < 0;
    }
    bool operator()(const probe& a, const entry& b) const {
      return three_way(b, a) > 0;
    }
  };

  /// A B-tree: its nodes hold entries side by side, so a search reads a
  /// few cache lines where a red-black tree followed a pointer (a cache
  /// miss) per level; iterators are not kept, as a write moves entries.
  /// Nodes of 1 KiB (25 entries) rather than absl::btree_set's 256 bytes:
  /// two levels fewer over 250,000 keys, and an update about 15% faster
  /// (bench/README.md, "B-trees of compact entries").
  static constexpr int node_bytes = 1024;
  using entry_set = absl::container_internal::btree_set_container<
    absl::container_internal::btree<absl::container_internal::set_params<
      entry, entry_less, std::allocator<entry>, node_bytes, false>>>;

  /// An indexed key: its version, expiry and field in each index.
  struct record {
    version_t version = 0;
    unix_ms expires_at = 0;
    std::vector<std::optional<index_value>> fields;
    /// The last pass (begin_pass) that saw the key: a number in the node
    /// rather than a set of the keys seen, which cost ~40 bytes a key for
    /// the length of a pass.
    uint32_t pass = 0;
  };

  /// The entry of key `n` for `value` in index `i`.
  entry entry_of(size_t i, const node& n, const index_value& value) const;
  /// The point (value, key, side) in index `i`'s order.
  probe probe_at(size_t i, const index_value& value, std::string_view key,
                 int key_side) const;
  /// Whether entry `e` of index `i` holds the value of `p`.
  static bool same_value(const entry& e, size_t i, const probe& p);

  struct resolved_condition {
    size_t index;
    query_op op;
    /// An in's or nin's sorted, without repeats (resolve).
    const std::vector<index_value>* values;
  };
  struct plan;

  /// The conditions of `req` (checked by problem()) resolved to index
  /// positions. The values of each in and nin are copied into `sorted`,
  /// which must outlive the result, sorted and without repeats: holds()
  /// then finds a field among a thousand values in ten comparisons
  /// instead of a thousand, for each key a query looks at.
  std::vector<resolved_condition>
  resolve(const query_request& req,
          std::vector<std::vector<index_value>>& sorted) const;

  /// The key's field in index `i`, or nullptr.
  static const index_value* field(const node& n, size_t i) {
    auto& f = n.second.fields[i];
    return f ? &*f : nullptr;
  }

  /// The keys of one value of one index under one query prefix, sorted by
  /// another index's field: "status eq pending, by deadline" pages in
  /// O(page) instead of sorting every pending key for every page. Built by
  /// the first page that needs it, dropped by any change to a key under its
  /// prefix with that value (or to its sort field); at most as many keys as
  /// a walk of the order index would visit. Bound to the query's prefix, not
  /// the index's: a page of the few orders of one type must not read the
  /// many of another.
  struct sorted_group {
    /// One of its keys, with copies of what a page takes from the record
    /// (they hold while the group does: a write to the key drops the
    /// group), so that a page reads the group in sequence instead of
    /// following a pointer, a cache miss or three, per key.
    struct member {
      const node* n;
      std::string key;
      version_t version;
      unix_ms expires_at;
      index_value sort; // the field in index by_index
    };
    bool valid = false;
    size_t of_index = 0;
    index_value value;
    size_t by_index = 0;
    std::string prefix; // of the queries it serves
    std::vector<member> members; // ascending by (sort, key)
  };

  /// Drops the sorted group if `n` is (or was) one of its keys.
  void touch_group(const node& n) const;

  std::optional<size_t> position_of(const std::string& name) const;
  bool matches(const node& n, const query_request& req,
               const std::vector<resolved_condition>& where,
               unix_ms now) const;
  static bool holds(const index_value* field, const resolved_condition& c);
  void drop(key_map::iterator it);
  /// put and put_fields from here: `fields` (one per index) replace what
  /// the key had; `it` is the key's node or keys_.end().
  void place(key_map::iterator it, const std::string& key, version_t version,
             std::vector<std::optional<index_value>>& fields,
             unix_ms expires_at);

  std::vector<index_config> specs_;
  key_map keys_;
  mutable size_t visits_ = 0;
  std::vector<entry_set> sets_;
  std::set<std::pair<unix_ms, const node*>> by_expiry_;
  mutable sorted_group group_;
  /// Whether a pass runs, and its number (record::pass).
  bool in_pass_ = false;
  uint32_t pass_ = 0;
  std::vector<std::string_view> paths_scratch_;
  std::vector<std::optional<index_value>> fields_scratch_;
};

/// Made once per confirmed page: sorting an in's thousand values for each
/// item a write moved would cost more than the check itself.
class index_set::resolved_query {
public:
  resolved_query(const index_set& set, const query_request& req)
    : where_(set.resolve(req, sorted_)) {
  }
  // where_ points into sorted_.
  resolved_query(const resolved_query&) = delete;
  resolved_query& operator=(const resolved_query&) = delete;

private:
  friend class index_set;
  std::vector<std::vector<index_value>> sorted_;
  std::vector<resolved_condition> where_;
};

// Inline: the B-tree calls these a dozen times per search.

inline int index_set::entry_less::three_way(const entry& a,
                                            const entry& b) const {
  if (a.owner == b.owner)
    return 0; // a key has one entry in an index
  if (int c = compare(a.value, b.value); c != 0)
    return c;
  if (!a.value.complete())
    if (int c = compare_values(*field(*a.owner, index),
                               *field(*b.owner, index));
        c != 0)
      return c;
  if (int c = compare(a.head, b.head); c != 0)
    return c;
  return a.owner->first.compare(b.owner->first); // heads tie: the rest decides
}

inline int index_set::entry_less::three_way(const entry& a,
                                            const probe& b) const {
  if (int c = compare(a.value, b.code); c != 0)
    return c;
  if (!a.value.complete())
    if (int c = compare_values(*field(*a.owner, index), *b.value); c != 0)
      return c;
  if (b.key_side != 0)
    return -b.key_side;
  if (b.has_head)
    if (int c = compare(a.head, b.head); c != 0)
      return c;
  return a.owner->first.compare(b.key);
}

} // namespace solver_state
