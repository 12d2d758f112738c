// Default behaviour of the state_store interface (batch_get through get, one
// op at a time apply, no-op sweep/commit/checkpoint) and for_each_chunk.

#include "backends/state_store.hpp"

#include "backends/transaction_check.hpp"

namespace solver_state {

state_store::~state_store() = default;

caf::expected<std::vector<entry>>
state_store::batch_get(const std::vector<std::string>& keys, unix_ms now) {
  std::vector<entry> out;
  out.reserve(keys.size());
  for (const auto& key : keys) {
    auto e = get(key, now);
    if (e)
      out.push_back(std::move(*e));
    else if (code_of(e.error()) == state_errc::not_found)
      out.emplace_back();
    else
      return std::move(e.error());
  }
  return out;
}

bool state_store::background_step(unix_ms) {
  return false;
}

std::vector<std::string> state_store::take_expired_by_writes() {
  std::vector<std::string> out;
  out.swap(expired_by_writes_);
  return out;
}

std::vector<std::string> state_store::take_evicted() {
  std::vector<std::string> out;
  out.swap(evicted_);
  return out;
}

std::vector<std::string> state_store::take_rewritten() {
  return {};
}

bool state_store::damaged_for_good(const std::string&) const {
  return false;
}

bool state_store::pipelines() const {
  return false;
}

void state_store::apply(std::vector<pending_op>& ops, unix_ms now) {
  for (auto& op : ops)
    apply_one(op, now);
}

caf::error state_store::transact(std::vector<pending_op>& ops, unix_ms now) {
  auto prior = check_transaction(*this, ops, now);
  if (!prior)
    return std::move(prior.error());
  std::vector<prior_entry> applied;
  // Deletes before sets: the keys of a transaction are distinct, so the
  // order changes no outcome, but a key it deletes makes room for one it
  // creates. In request order, [set new, delete old] on a full store was
  // refused for capacity where [delete old, set new] was applied.
  for (auto kind : {pending_op::erase, pending_op::set})
    for (size_t i = 0; i < ops.size(); ++i) {
      auto& op = ops[i];
      if (op.kind != kind)
        continue;
      // The conditions held a moment ago in this same thread: apply plainly.
      if (op.kind == pending_op::set) {
        op.write.cond = condition::always();
        op.written = set(set_request{op.write}, op.expires_at, now);
      } else {
        op.removal.cond = condition::always();
        op.erased = erase(op.removal, now);
      }
      if (auto err = op.failure()) {
        if (auto stuck = put_back(*this, applied, now))
          return stuck;
        return err;
      }
      applied.push_back(std::move((*prior)[i]));
    }
  return {};
}

caf::expected<key_page> state_store::list_owned(const list_request& req,
                                                unix_ms now) {
  return list(req, now);
}

bool state_store::shares_data() const {
  return false;
}

void state_store::apply_one(pending_op& op, unix_ms now) {
  switch (op.kind) {
    case pending_op::get:
      op.got = get(op.key, now);
      break;
    case pending_op::set:
      op.written = set(std::move(op.write), op.expires_at, now);
      break;
    case pending_op::erase:
      op.erased = erase(op.removal, now);
      break;
  }
}

void for_each_chunk(std::vector<pending_op>& ops, size_t max_bytes,
                    const std::function<void(pending_op*, size_t)>& run) {
  size_t first = 0;
  while (first < ops.size()) {
    size_t n = 0;
    size_t bytes = 0;
    while (first + n < ops.size() && (n == 0 || bytes < max_bytes)) {
      auto& op = ops[first + n];
      bytes += op.target().size()
               + (op.kind == pending_op::set ? op.write.value.size() : 0);
      ++n;
    }
    run(ops.data() + first, n);
    first += n;
  }
}

bool state_store::reports_expiries() const {
  return false;
}

size_t state_store::sweep(unix_ms, std::vector<std::string>*) {
  return 0;
}

bool state_store::has_pending_commit() const {
  return false;
}

bool state_store::failed_commit_keeps_writes() const {
  return false;
}

caf::error state_store::commit() {
  return {};
}

caf::error state_store::checkpoint() {
  return {};
}

caf::error state_store::close() {
  return {};
}

bool state_store::only_frees_after_close() const {
  return false;
}

bool state_store::keeps_snapshots() const {
  return false;
}

caf::error state_store::keep_snapshot(std::string) {
  return {};
}

caf::expected<std::optional<std::string>> state_store::take_snapshot() {
  return std::optional<std::string>{};
}

caf::error state_store::health_check() {
  return {};
}

store_stats state_store::stats() const {
  return {};
}

} // namespace solver_state
