#pragma once

// The PostgreSQL backend (libpq). One table, created if missing:
//   key bytea PRIMARY KEY, value bytea, version bigint, expires_at bigint
// plus a sequence for versions and a partial index on expires_at for the
// sweep. Every operation is one prepared statement with binary parameters;
// conditional writes are a single INSERT .. ON CONFLICT .. WHERE or
// UPDATE .. WHERE version = $v, so they are atomic across all clients.
//
// Why bytea keys: keys may hold any byte but control bytes, including
// invalid UTF-8, which a text column refuses; and bytea compares byte-wise
// (memcmp, unsigned), exactly as std::string orders the memory backend's
// keys, with no collation involved. The primary-key btree then serves prefix
// listing as a range scan [prefix, successor(prefix)).
//
// Why a pipelined batch is one transaction (one Sync) and not one Sync per
// op: the ops of a batch arrived while the previous round trip ran, so their
// clients wait for the same reply anyway; one commit for the group is one
// WAL flush instead of one per op (group commit, as the file backend does),
// which is what pgbench's one-statement transactions cannot share. Atomicity
// of each conditional write is unchanged: every statement still checks its
// version under the row lock, in READ COMMITTED, exactly as alone, and ops
// on one key see each other's effects in order. The price is that one
// failing statement rolls back the whole batch; that is rare (a version
// mismatch is an empty result, not an error), and the store then runs the
// batch again one op per transaction, so only the failing op fails. When
// the statement failed for waiting too long (a row another client holds,
// statement_timeout), its op and the later ops on its key fail (503) and
// the rest run again as one batch; a chunk takes at most twice timeout_ms
// in all. Row locks are held until the batch commits, one round trip; keys
// are owned by one shard, so shards of one service never wait on each
// other's rows.
//
// Why one connection per store and no pool: each store belongs to one shard,
// a detached actor that runs one operation at a time, so a connection per
// store is already the most a pool could hand it; state.shards sizes the
// "pool" (default 8 connections, well under max_connections=100), and no
// lock or hand-off between threads is needed.

#include <chrono>
#include <string>
#include <vector>

#include "backends/atomic_batch_read.hpp"
#include "backends/postgres/connection.hpp"
#include "backends/shared_listing.hpp"
#include "backends/state_store.hpp"

namespace solver_state {

class postgres_store final : public state_store, public atomic_batch_read {
public:
  postgres_store(postgres_options opts, shard_slice slice);

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now) override;
  /// One SELECT: one snapshot of the table.
  caf::expected<std::vector<entry>>
  batch_get_within(const std::vector<std::string>& keys, unix_ms now,
                   size_t byte_budget) override;
  /// Pipelined: a batch is one round trip and one transaction (see apply).
  bool pipelines() const override;
  void apply(std::vector<pending_op>& ops, unix_ms now) override;
  /// One SQL transaction (BEGIN .. COMMIT) of the single-key conditional
  /// statements, after advisory locks on every key (see transaction.cpp).
  caf::error transact(std::vector<pending_op>& ops, unix_ms now) override;
  /// Every shard's store reaches the same table.
  bool shares_data() const override;
  size_t sweep(unix_ms now,
               std::vector<std::string>* expired = nullptr) override;
  caf::error health_check() override;
  store_stats stats() const override;

  /// Creates the schema and prepares the statements on a new connection.
  static caf::error set_up(postgres_connection& conn);

private:
  using steady_clock = std::chrono::steady_clock;

  void apply_chunk(pending_op* first, size_t n, unix_ms now);
  /// After a batch failed for another reason than a wait: each op in its
  /// own transaction, until `deadline`.
  void apply_one_by_one(const std::vector<pending_op*>& ops, unix_ms now,
                        steady_clock::time_point deadline);
  /// One attempt at a transaction: BEGIN, locks, each op, COMMIT.
  caf::error run_transaction(std::vector<pending_op>& ops, unix_ms now);
  /// The ops' statements inside an open transaction; the first failure.
  caf::error transaction_steps(std::vector<pending_op>& ops, unix_ms now);

  postgres_connection conn_;
  shard_slice slice_;
  store_stats stats_;
};

} // namespace solver_state
