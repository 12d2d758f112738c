// The PostgreSQL store of one shard: one bytea-keyed table, prepared
// statements, conditional upserts, pipelined batches in one transaction.

#include "backends/postgres/store.hpp"

#include "backends/postgres/schema.hpp"
#include "backends/postgres/single_key.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// Live at $now: the expiry rule of every backend, in SQL.
std::string live_at(const std::string& now_param) {
  return "(expires_at = 0 OR expires_at > " + now_param + ")";
}

struct statement {
  const char* name;
  std::string sql;
};

std::vector<statement> statements_for(const std::string& t) {
  auto seq = t + "_version";
  auto upsert = "INSERT INTO " + t
                + " AS t (key, value, version, expires_at) "
                  "VALUES ($1, $2, nextval('" + seq + "'), $3) "
                  "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                  "version = EXCLUDED.version, "
                  "expires_at = EXCLUDED.expires_at";
  return {
    {"get", "SELECT value, version, expires_at FROM " + t
              + " WHERE key = $1 AND " + live_at("$2")},
    // Each set returns the new version and whether it created the key (no
    // live value before): the old row is read in the statement's snapshot.
    {"set_any", "WITH old AS (SELECT 1 FROM " + t + " WHERE key = $1 AND "
                  + live_at("$4") + ") " + upsert
                  + " RETURNING t.version, NOT EXISTS (SELECT 1 FROM old)"},
    // The conflicting row is replaced only if it has expired.
    {"set_absent", upsert
                     + " WHERE t.expires_at <> 0 AND t.expires_at <= $4"
                       " RETURNING t.version, true"},
    {"set_version", "UPDATE " + t + " SET value = $2, version = nextval('"
                      + seq + "'), expires_at = $3 WHERE key = $1 AND "
                      "version = $4 AND " + live_at("$5")
                      + " RETURNING version, false"},
    {"del_any", "DELETE FROM " + t + " WHERE key = $1 RETURNING "
                  + live_at("$2")},
    {"del_version", "DELETE FROM " + t
                      + " WHERE key = $1 AND version = $2 AND "
                      + live_at("$3") + " RETURNING true"},
    {"del_absent", "WITH gone AS (DELETE FROM " + t
                     + " WHERE key = $1 AND NOT " + live_at("$2")
                     + " RETURNING 1) SELECT EXISTS (SELECT 1 FROM " + t
                     + " WHERE key = $1 AND " + live_at("$2") + ")"},
    {"list", "SELECT key FROM " + t
               + " WHERE key >= $1 AND key > $2 AND key < $3 AND "
               + live_at("$4") + " ORDER BY key LIMIT $5"},
    {"batch", "SELECT k.i, t.value, t.version, t.expires_at "
              "FROM unnest($1::text[]) WITH ORDINALITY AS k(h, i) "
              "JOIN " + t + " t ON t.key = decode(k.h, 'hex') "
              "WHERE t.expires_at = 0 OR t.expires_at > $2"},
    // As "batch", in one statement (one snapshot), the values only while
    // their running size stays within $3 bytes (the first key's always):
    // a row past it comes without its value and marks where the read ends.
    {"batch_within",
     "SELECT k.i, CASE WHEN k.i = 1 OR sum(octet_length(t.value)) OVER "
     "(ORDER BY k.i) <= $3 THEN t.value END, t.version, t.expires_at "
     "FROM unnest($1::text[]) WITH ORDINALITY AS k(h, i) "
     "JOIN " + t + " t ON t.key = decode(k.h, 'hex') "
     "WHERE t.expires_at = 0 OR t.expires_at > $2 ORDER BY k.i"},
    // At most $2 rows, the earliest due first (the expiry index): one
    // DELETE of every expired row could outlive the statement timeout and
    // hold that many row locks and notifications in one transaction. Rows
    // that a writer holds are skipped (the next sweep meets them), and the
    // outer WHERE checks the expiry again on the rows locked.
    {"sweep", "DELETE FROM " + t + " WHERE key IN (SELECT key FROM " + t
                + " WHERE expires_at <> 0 AND expires_at <= $1 "
                  "ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
                  "AND expires_at <> 0 AND expires_at <= $1"},
    {"size", "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = '"
               + t + "'::regclass"},
    {"ping", "SELECT 1"},
    // A transaction's first step: one advisory lock per key (hex text), in
    // the array's order, held until COMMIT. Two transactions over common
    // keys then run one after the other, and since every transaction asks
    // in key order they never deadlock on these locks. The two-int form
    // keeps them apart from set_up's single-int schema lock.
    {"txn_lock", "SELECT count(pg_advisory_xact_lock(7683121, hashtext(k))) "
                 "FROM unnest($1::text[]) AS k"},
  };
}

caf::error mismatch(const char* why) {
  return make_state_error(state_errc::version_mismatch, why);
}

entry entry_of(const pg_rows& rows, int row, int first_col) {
  entry e;
  e.value.assign(rows.bytes(row, first_col));
  e.version = static_cast<version_t>(rows.int8(row, first_col + 1));
  e.expires_at_ms = rows.int8(row, first_col + 2);
  return e;
}

} // namespace

caf::error postgres_store::set_up(postgres_connection& conn) {
  // Read committed whatever the server's default: a conditional write then
  // waits for a concurrent writer of its row and sees its commit, where
  // repeatable read or serializable (a managed server's setting, say) would
  // fail it with a serialization error, and a transaction's reads after
  // its locks would see a snapshot from before them.
  if (auto r = conn.exec("SET default_transaction_isolation TO "
                         "'read committed'");
      !r)
    return std::move(r.error());
  if (auto err = complete_postgres_schema(conn))
    return err;
  if (auto cap = conn.options().max_items; cap != 0)
    if (auto r = conn.exec("SELECT set_config('solver_state.max_items', '"
                           + std::to_string(cap) + "', false)");
        !r)
      return std::move(r.error());
  for (auto& s : statements_for(conn.options().table))
    if (auto err = conn.prepare(s.name, s.sql))
      return err;
  return {};
}

postgres_store::postgres_store(postgres_options opts, shard_slice slice)
  : conn_(std::move(opts), &postgres_store::set_up), slice_(slice) {
}

std::string_view postgres_store::backend_name() const {
  return "postgresql";
}

// -- single-key statements and their outcomes (single and pipelined path, and
// the steps of a transaction) ---------------------------------------------------

namespace postgres_single_key {

/// The array literal {hex,hex,...} of `keys`: hex digits need no quoting.
std::string hex_array(const std::vector<std::string>& keys) {
  static const char digits[] = "0123456789abcdef";
  std::string out = "{";
  for (auto& k : keys) {
    if (out.size() > 1)
      out += ',';
    for (unsigned char c : k) {
      out += digits[c >> 4];
      out += digits[c & 0xf];
    }
  }
  out += '}';
  return out;
}

pg_statement get_statement(const std::string& key, unix_ms now) {
  return {"get", pg_params{}.bytes(key).int8(now)};
}

caf::expected<entry> get_outcome(const pg_rows& rows) {
  if (rows.size() == 0)
    return make_state_error(state_errc::not_found, "no value for key");
  return entry_of(rows, 0, 0);
}

pg_statement set_statement(const set_request& req, unix_ms expires_at,
                           unix_ms now) {
  pg_statement s{"set_any", {}};
  s.params.bytes(req.key).bytes(req.value).int8(expires_at);
  if (req.cond.kind == condition::none) {
    s.params.int8(now);
  } else if (req.cond.kind == condition::if_absent) {
    s.name = "set_absent";
    s.params.int8(now);
  } else if (req.cond.kind == condition::if_version) {
    s.name = "set_version";
    s.params.int8(static_cast<int64_t>(req.cond.version)).int8(now);
  }
  return s;
}

caf::expected<write_result> set_outcome(const condition& cond,
                                        const pg_rows& rows) {
  if (rows.size() == 0)
    return mismatch(cond.kind == condition::if_absent
                      ? "key exists"
                      : "version differs or key does not exist");
  return write_result{static_cast<version_t>(rows.int8(0, 0)),
                      rows.boolean(0, 1)};
}

pg_statement erase_statement(const delete_request& req, unix_ms now) {
  if (req.cond.kind == condition::if_version)
    return {"del_version", pg_params{}
                             .bytes(req.key)
                             .int8(static_cast<int64_t>(req.cond.version))
                             .int8(now)};
  if (req.cond.kind == condition::if_absent)
    return {"del_absent", pg_params{}.bytes(req.key).int8(now)};
  return {"del_any", pg_params{}.bytes(req.key).int8(now)};
}

caf::expected<bool> erase_outcome(const condition& cond, const pg_rows& rows) {
  if (cond.kind == condition::if_version) {
    if (rows.size() == 0)
      return mismatch("version differs or key does not exist");
    return true;
  }
  if (cond.kind == condition::if_absent) {
    if (rows.size() == 1 && rows.boolean(0, 0))
      return mismatch("key exists");
    return false;
  }
  return rows.size() == 1 && rows.boolean(0, 0);
}

/// Runs one statement and maps its rows with `outcome`.
template <class T, class Outcome>
caf::expected<T> run_one(postgres_connection& conn, const pg_statement& s,
                         Outcome outcome) {
  auto rows = conn.run(s.name, s.params);
  if (!rows)
    return std::move(rows.error());
  return outcome(*rows);
}

} // namespace postgres_single_key

using namespace postgres_single_key;

caf::expected<entry> postgres_store::get(const std::string& key,
                                         unix_ms now) {
  return run_one<entry>(conn_, get_statement(key, now), get_outcome);
}

caf::expected<std::vector<entry>>
postgres_store::batch_get(const std::vector<std::string>& keys, unix_ms now) {
  std::vector<entry> out(keys.size());
  if (keys.empty())
    return out;
  auto rows = conn_.run("batch", pg_params{}.text(hex_array(keys)).int8(now));
  if (!rows)
    return std::move(rows.error());
  for (int r = 0; r < rows->size(); ++r) {
    auto i = static_cast<size_t>(rows->int8(r, 0) - 1); // ORDINALITY is 1-based
    if (i < out.size())
      out[i] = entry_of(*rows, r, 1);
  }
  return out;
}

caf::expected<std::vector<entry>>
postgres_store::batch_get_within(const std::vector<std::string>& keys,
                                 unix_ms now, size_t byte_budget) {
  std::vector<entry> out(keys.size());
  if (keys.empty())
    return out;
  auto rows = conn_.run("batch_within",
                        pg_params{}.text(hex_array(keys)).int8(now).int8(
                          static_cast<int64_t>(std::min<size_t>(
                            byte_budget, std::numeric_limits<int64_t>::max()))));
  if (!rows)
    return std::move(rows.error());
  for (int r = 0; r < rows->size(); ++r) {
    auto i = static_cast<size_t>(rows->int8(r, 0) - 1); // ORDINALITY is 1-based
    if (i >= out.size())
      continue;
    if (rows->is_null(r, 1)) { // past the budget: the keys from here unread
      out.resize(i);
      break;
    }
    out[i] = entry_of(*rows, r, 1);
  }
  return out;
}

caf::expected<write_result> postgres_store::set(set_request&& req,
                                                unix_ms expires_at,
                                                unix_ms now) {
  return run_one<write_result>(conn_, set_statement(req, expires_at, now),
                               [&](const pg_rows& rows) {
                                 return set_outcome(req.cond, rows);
                               });
}

caf::expected<bool> postgres_store::erase(const delete_request& req,
                                          unix_ms now) {
  return run_one<bool>(conn_, erase_statement(req, now),
                       [&](const pg_rows& rows) {
                         return erase_outcome(req.cond, rows);
                       });
}

// -- pipelining --------------------------------------------------------------------

bool postgres_store::pipelines() const {
  return true;
}

void postgres_store::apply(std::vector<pending_op>& ops, unix_ms now) {
  // Chunks bound what one round trip buffers (values may be large).
  for_each_chunk(ops, size_t{1} << 20, [&](pending_op* first, size_t n) {
    apply_chunk(first, n, now);
  });
}

namespace {

pg_statement statement_of(const pending_op& op, unix_ms now) {
  switch (op.kind) {
    case pending_op::get:
      return get_statement(op.key, now);
    case pending_op::set:
      return set_statement(op.write, op.expires_at, now);
    default:
      return erase_statement(op.removal, now);
  }
}

void take_outcome(pending_op& op, const pg_rows& rows) {
  switch (op.kind) {
    case pending_op::get:
      op.got = get_outcome(rows);
      break;
    case pending_op::set:
      op.written = set_outcome(op.write.cond, rows);
      break;
    case pending_op::erase:
      op.erased = erase_outcome(op.removal.cond, rows);
      break;
  }
}

/// Fails the op at `at` and every later op on its key with `err`; the ops
/// left, in their order (those on the key before `at` included: they ran
/// without waiting).
std::vector<pending_op*> without_key_of(const std::vector<pending_op*>& ops,
                                        size_t at, const caf::error& err) {
  const std::string key = ops[at]->target();
  std::vector<pending_op*> rest;
  rest.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i >= at && ops[i]->target() == key)
      ops[i]->fail(err);
    else
      rest.push_back(ops[i]);
  }
  return rest;
}

caf::error not_run() {
  return make_state_error(state_errc::backend_unavailable,
                          "postgresql: not run: its batch used up its time "
                          "(twice timeout_ms) on statements that waited for "
                          "locked rows or a slow server");
}

} // namespace

void postgres_store::apply_chunk(pending_op* first, size_t n, unix_ms now) {
  if (n == 1) { // nothing to share: no pipeline, no transaction around it
    return apply_one(first[0], now);
  }
  std::vector<pending_op*> ops;
  ops.reserve(n);
  for (size_t i = 0; i < n; ++i)
    ops.push_back(first + i);
  // A failing statement rolls back the whole batch. One that waited too
  // long (a row another transaction holds) would wait again, and so would
  // the later ops on its key: they fail now, with the timeout (503), and
  // the others run again as one batch, instead of one by one each paying
  // a timeout. The chunk's time is bounded in all: what is left when it is
  // up fails (503) without running.
  auto deadline = steady_clock::now() + 2 * conn_.options().command_timeout;
  while (ops.size() > 1) {
    std::vector<pg_statement> statements;
    statements.reserve(ops.size());
    for (auto* op : ops)
      statements.push_back(statement_of(*op, now));
    size_t failed_at = ops.size();
    auto rows = conn_.run_batch(statements, &failed_at);
    if (rows) {
      for (size_t i = 0; i < ops.size(); ++i)
        take_outcome(*ops[i], (*rows)[i]);
      return;
    }
    if (!conn_.connected()) { // lost: no op's outcome is known
      for (auto* op : ops)
        op->fail(rows.error());
      return;
    }
    if (!waited_too_long(rows.error()) || failed_at >= ops.size())
      break;
    ops = without_key_of(ops, failed_at, rows.error());
    if (steady_clock::now() >= deadline) {
      for (auto* op : ops)
        op->fail(not_run());
      return;
    }
  }
  apply_one_by_one(ops, now, deadline);
}

void postgres_store::apply_one_by_one(const std::vector<pending_op*>& ops,
                                      unix_ms now,
                                      steady_clock::time_point deadline) {
  // Another statement (or the commit) failed: run them again in order,
  // each in its own transaction, so only the failing one fails. An op that
  // waits too long fails the later ops on its key, as in a batch.
  std::map<std::string, caf::error> waited;
  for (auto* op : ops) {
    if (auto it = waited.find(op->target()); it != waited.end()) {
      op->fail(it->second);
      continue;
    }
    if (steady_clock::now() >= deadline) {
      op->fail(not_run());
      continue;
    }
    auto key = op->target(); // apply_one moves a write's key away
    apply_one(*op, now);
    if (auto err = op->failure(); err && waited_too_long(err))
      waited.emplace(std::move(key), err);
  }
}

caf::expected<key_page> postgres_store::list(const list_request& req,
                                             unix_ms now) {
  key_page page;
  size_t wanted = req.limit == 0 ? SIZE_MAX : size_t{req.limit} + 1;
  auto upper = prefix_successor(req.prefix).value_or(past_every_key());
  // Other shards' keys are skipped, so read in chunks until enough are ours.
  int64_t chunk = std::max<int64_t>(64, req.limit == 0 ? 1024 : wanted * 2);
  std::string after = req.after;
  std::vector<std::string> keys;
  for (;;) {
    auto rows = conn_.run("list", pg_params{}
                                    .bytes(req.prefix)
                                    .bytes(after)
                                    .bytes(upper)
                                    .int8(now)
                                    .int8(chunk));
    if (!rows)
      return std::move(rows.error());
    for (int r = 0; r < rows->size() && keys.size() < wanted; ++r) {
      auto key = rows->bytes(r, 0);
      if (slice_.owns(key))
        keys.emplace_back(key);
    }
    if (keys.size() >= wanted || rows->size() < chunk)
      break;
    after.assign(rows->bytes(rows->size() - 1, 0));
  }
  if (keys.size() == wanted && req.limit != 0) {
    keys.pop_back();
    page.more = true;
  }
  page.keys = std::move(keys);
  return page;
}

size_t postgres_store::sweep(unix_ms now, std::vector<std::string>*) {
  // Every shard shares the table: one of them sweeps it.
  if (!slice_.leads())
    return 0;
  auto rows = conn_.run(
    "sweep",
    pg_params{}.int8(now).int8(static_cast<int64_t>(max_sweep_keys)));
  if (!rows)
    return 0;
  if (auto size = conn_.run("size", pg_params{}); size && size->size() == 1)
    stats_.keys = static_cast<uint64_t>(size->int8(0, 0));
  return rows->affected();
}

caf::error postgres_store::health_check() {
  auto rows = conn_.run("ping", pg_params{});
  return rows ? caf::error{} : std::move(rows.error());
}

store_stats postgres_store::stats() const {
  return stats_;
}

} // namespace solver_state
