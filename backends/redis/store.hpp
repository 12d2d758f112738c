#pragma once

// The Redis backend (hiredis). Layout under the configured key prefix P:
//   P v:<key>    "<version>:<expires_at_ms>:<value bytes>"  (PEXPIREAT set)
//   P index      sorted set of every key, score 0 (ZRANGEBYLEX listing)
//   P version    counter: the source of all versions; each store reserves
//                blocks of 4096 (INCRBY), so a write needs no round trip
//                and no script just to learn its version; each draw first
//                raises it to the server's clock in microseconds, so a
//                counter that went back in a failover or a restore does
//                not hand out the blocks of before again
//   P expiry     sorted set of the keys written with a TTL, score expires_at
//                (so the set script counts live keys for max_items in
//                O(log N): index size minus expired members)
// and every write publishes its change on the Pub/Sub channel
// "solver-state:changes:<db>:P" in the same MULTI or script (scripts.hpp),
// which every node's change feed reads (feed.hpp).
// Conditional writes (and any write while max_items is set) run as Lua
// scripts (scripts.hpp), so they are atomic across every client of
// the same Redis, not only within one shard. An unconditional write with no
// limit needs no read, so it is a MULTI/EXEC of SET, ZADD and the expiry
// update: as atomic, and several times cheaper for the server than a script
// (EVALSHA of an empty script costs Redis 7 about as much as two SETs).
//
// With wait_replicas = N, every round trip that writes ends with WAIT N:
// a write is acknowledged only once N replicas hold it (and every write
// before it on this connection, the version block's INCRBY included), so
// it survives the master's death and a Sentinel failover. Fewer replicas
// within wait_timeout: backend_unavailable, the write possibly applied on
// the master only (the outcome of a timeout: the client may retry).
//
// Why a sorted-set index instead of SCAN: SCAN walks the whole keyspace in
// hash order for every page, so paging "after K" costs O(all keys) and needs
// a client-side sort; the index gives each page in O(log N + page) already in
// byte order (ZRANGEBYLEX compares with memcmp, as std::string does). The
// price is one ZADD/ZREM per write inside the same script, and index members
// left behind by Redis' own expiry, which listing skips and removes, and the
// leader shard's sweep prunes a bounded batch of per tick.

#include <functional>
#include <memory>
#include <string>

#include "backends/atomic_batch_read.hpp"
#include "backends/redis/connection.hpp"
#include "backends/redis/scripts.hpp"
#include "backends/shared_listing.hpp"
#include "backends/state_store.hpp"

namespace solver_state {

class redis_store final : public state_store, public atomic_batch_read {
public:
  /// `max_items` live keys across every shard and client of this prefix
  /// (0 = unlimited); writes of new keys beyond it get capacity_exceeded.
  redis_store(redis_options opts, shard_slice slice, size_t max_items = 0);

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now) override;
  /// One script: the engine runs it whole, between other clients' commands.
  caf::expected<std::vector<entry>>
  batch_get_within(const std::vector<std::string>& keys, unix_ms now,
                   size_t byte_budget) override;
  /// Pipelined: a batch is one round trip (GET and EVALSHA per op, replies
  /// read in order; Redis runs one connection's commands in order).
  bool pipelines() const override;
  void apply(std::vector<pending_op>& ops, unix_ms now) override;
  /// One Lua script (redis_transaction_script): atomic for every client of
  /// this Redis, and all or nothing if our process dies mid-way.
  caf::error transact(std::vector<pending_op>& ops, unix_ms now) override;
  /// Every shard's store reaches the same Redis database and prefix.
  bool shares_data() const override;
  size_t sweep(unix_ms now,
               std::vector<std::string>* expired = nullptr) override;
  caf::error health_check() override;
  store_stats stats() const override;

private:
  std::string value_key(std::string_view key) const;
  caf::expected<version_t> take_version();
  /// Appends a set's commands to `b`. True for a plain write (MULTI .. EXEC,
  /// its outcome in EXEC's reply), false for the set script.
  bool add_set(redis_batch& b, const set_request& req, unix_ms expires_at,
               unix_ms now, version_t version) const;
  void add_erase(redis_batch& b, const delete_request& req,
                 unix_ms now) const;
  /// An operation's reply, and when WAIT followed and fewer replicas than
  /// wait_replicas acknowledged, why its write may be lost in a failover.
  struct waited_reply {
    redis_reply reply;
    caf::error unreplicated;
  };
  /// One operation's commands (appended by `add`) as one round trip, WAIT
  /// after them when writes wait for replicas.
  caf::expected<waited_reply>
  run_one(const std::function<void(redis_batch&)>& add);
  /// A failed MULTI .. EXEC write's error, saying READONLY when that was
  /// the reason.
  caf::error explain_refusal(caf::error err) const;
  /// True when writes wait for wait_replicas replicas.
  bool waits() const;
  void add_wait(redis_batch& b) const;
  /// Empty when WAIT's reply counts enough replicas.
  caf::error replicas_short(const redisReply* wait_reply) const;
  caf::error scripts_ready();
  void apply_chunk(pending_op* ops, size_t n, unix_ms now);
  /// WAIT came up short: the writes of the batch that took effect fail
  /// with `err` (they may be lost in a failover).
  void fail_unreplicated_writes(pending_op* ops, size_t n,
                                const std::vector<bool>& rerun,
                                const caf::error& err);
  void rerun_after_noscript(pending_op* ops, size_t n,
                            const std::vector<bool>& noscript, unix_ms now);

  redis_connection conn_;
  shard_slice slice_;
  std::string value_prefix_;
  std::string index_key_;
  std::string counter_key_;
  std::string expiry_key_;
  std::string channel_; // where writes publish their changes
  size_t max_items_;
  uint64_t scripts_generation_ = 0; // connection generation they were loaded on
  redis_script set_script_;
  redis_script erase_script_;
  redis_script batch_within_script_;
  /// The health check's INFO was refused, and the log said so once.
  bool info_refusal_logged_ = false;
  redis_script list_script_;
  redis_script prune_script_;
  redis_script block_script_;
  redis_script transaction_script_;
  version_t next_version_ = 1; // the reserved block: [next_, last_]
  version_t last_version_ = 0;
  std::string prune_cursor_ = "-";
  redis_batch batch_; // the pipelined batch being formatted, reused
  redis_batch one_;   // a single operation's commands, reused
  store_stats stats_;
};

} // namespace solver_state
