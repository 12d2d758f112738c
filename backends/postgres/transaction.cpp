// Transactions on PostgreSQL: BEGIN, an advisory lock per key (in key
// order), the same conditional statement per op as a single-key write, then
// COMMIT, or ROLLBACK at the first op whose condition fails. Other clients
// see nothing before COMMIT, and a connection lost before COMMIT rolls back
// on the server, so every reader and every crash sees all or none.
//
// Why the conditional statements are enough for correctness against
// single-key writers: each one locks the row it checks (an UPDATE, a
// DELETE, or the inserted row's index entry) until COMMIT, so no condition
// already checked can change before the transaction commits. The advisory
// locks add what row locks cannot: a key that is absent and stays absent
// (an erase of a missing key) holds no row, so two transactions over
// overlapping keys would otherwise not exclude each other.

#include "backends/postgres/store.hpp"

#include <algorithm>

#include "backends/postgres/connection.hpp"
#include "backends/postgres/single_key.hpp"
#include "backends/transaction_check.hpp"
#include "messages/errors.hpp"

namespace solver_state {

using namespace postgres_single_key;

namespace {

/// The array literal {hex,...} of the ops' keys in byte order: the order
/// every transaction takes its key locks in.
std::string sorted_hex_keys(const std::vector<pending_op>& ops) {
  std::vector<std::string> keys;
  keys.reserve(ops.size());
  for (auto& op : ops)
    keys.push_back(op.target());
  std::sort(keys.begin(), keys.end());
  return postgres_single_key::hex_array(keys);
}

const condition& condition_of(const pending_op& op) {
  return op.kind == pending_op::set ? op.write.cond : op.removal.cond;
}

/// Whether the server rolled the transaction back for a conflict with
/// others, which trying again may not meet: a deadlock between this
/// transaction and single-key writers of new keys (they wait on each
/// other's rows and the max_items count row), or a serialization failure.
/// By the SQLSTATE, which reads the same in every server language.
bool is_conflict(const caf::error& err) {
  return code_of(err) == state_errc::backend_error
         && (failed_with_state(err, "40P01")
             || failed_with_state(err, "40001"));
}

/// How many times a transaction aborted by a conflict is tried.
constexpr int transaction_attempts = 3;

} // namespace

bool postgres_store::shares_data() const {
  return true;
}

caf::error postgres_store::transact(std::vector<pending_op>& ops,
                                    unix_ms now) {
  for (int attempt = 1;; ++attempt) {
    auto err = run_transaction(ops, now);
    if (!err)
      return err;
    // Rolled back (or, after a failed COMMIT, not known to be applied):
    // no op's outcome stands, and the shard must not take the steps that
    // ran before the failure for writes that were put back.
    for (auto& op : ops) {
      op.written = write_result{};
      op.erased = false;
    }
    if (attempt == transaction_attempts || !is_conflict(err))
      return err;
  }
}

caf::error postgres_store::run_transaction(std::vector<pending_op>& ops,
                                           unix_ms now) {
  if (auto begun = conn_.exec("BEGIN"); !begun)
    return std::move(begun.error());
  if (auto err = transaction_steps(ops, now)) {
    // A lost connection has rolled back on the server already; reconnecting
    // just to say ROLLBACK would only delay the answer.
    if (conn_.connected())
      if (auto rolled = conn_.exec("ROLLBACK"); !rolled)
        return std::move(rolled.error());
    return err;
  }
  if (auto committed = conn_.exec("COMMIT"); !committed)
    return std::move(committed.error());
  return {};
}

caf::error postgres_store::transaction_steps(std::vector<pending_op>& ops,
                                             unix_ms now) {
  if (auto locked = conn_.run("txn_lock",
                              pg_params{}.text(sorted_hex_keys(ops)));
      !locked)
    return std::move(locked.error());
  // Deletes before sets: the keys of a transaction are distinct, so the
  // order changes no outcome, but the max_items trigger counts each row
  // inserted at once, and a full table refused [set new, delete old]
  // where it applied [delete old, set new].
  for (auto kind : {pending_op::erase, pending_op::set})
    for (auto& op : ops) {
      if (op.kind != kind)
        continue;
      auto& cond = condition_of(op);
      auto s = op.kind == pending_op::set
                 ? set_statement(op.write, op.expires_at, now)
                 : erase_statement(op.removal, now);
      auto rows = conn_.run(s.name, s.params);
      if (!rows)
        return std::move(rows.error());
      caf::error failure;
      if (op.kind == pending_op::set) {
        op.written = set_outcome(cond, *rows);
        failure = op.failure();
      } else {
        op.erased = erase_outcome(cond, *rows);
        failure = op.failure();
      }
      if (!failure)
        continue;
      if (code_of(failure) != state_errc::version_mismatch)
        return failure;
      // Name the key and what it holds, read under the same locks.
      auto g = get_statement(op.target(), now);
      auto current = conn_.run(g.name, g.params);
      if (!current)
        return std::move(current.error());
      auto live = get_outcome(*current);
      if (auto err = transaction_condition_problem(op.target(), cond,
                                                   live ? *live : entry{}))
        return err;
      return make_state_error(state_errc::version_mismatch,
                              "transaction not applied: key '" + op.target()
                                + "' does not meet its condition");
    }
  return {};
}

} // namespace solver_state
