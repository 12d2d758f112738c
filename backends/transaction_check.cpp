// Transaction preconditions against a key's live entry, and putting back.

#include "backends/transaction_check.hpp"

#include "messages/errors.hpp"

namespace solver_state {

caf::error transaction_condition_problem(const std::string& key,
                                         const condition& cond,
                                         const entry& current) {
  auto now_text = current.found()
                    ? "is at version " + std::to_string(current.version)
                    : std::string{"does not exist"};
  switch (cond.kind) {
    case condition::if_version:
      if (current.found() && current.version == cond.version)
        return {};
      return make_state_error(state_errc::version_mismatch,
                              "transaction not applied: key '" + key + "' "
                                + now_text + ", not version "
                                + std::to_string(cond.version));
    case condition::if_absent:
      if (!current.found())
        return {};
      return make_state_error(state_errc::version_mismatch,
                              "transaction not applied: key '" + key + "' "
                                + now_text + " (it must not exist)");
    default:
      return {};
  }
}

caf::expected<std::vector<prior_entry>>
check_transaction(state_store& store, const std::vector<pending_op>& ops,
                  unix_ms now) {
  std::vector<prior_entry> prior;
  prior.reserve(ops.size());
  for (auto& op : ops) {
    auto current = store.get(op.target(), now);
    if (!current && code_of(current.error()) != state_errc::not_found)
      return std::move(current.error());
    entry live = current ? std::move(*current) : entry{};
    auto& cond = op.kind == pending_op::set ? op.write.cond : op.removal.cond;
    if (auto err = transaction_condition_problem(op.target(), cond, live))
      return err;
    prior.push_back(prior_entry{op.target(), std::move(live)});
  }
  return prior;
}

void put_back(state_store& store, std::vector<prior_entry>& prior,
              unix_ms now) {
  for (auto it = prior.rbegin(); it != prior.rend(); ++it) {
    if (it->before.found())
      store.set(set_request{it->key, std::move(it->before.value), 0,
                            condition::always(), 0},
                it->before.expires_at_ms, now);
    else
      store.erase(delete_request{it->key, condition::always()}, now);
  }
}

} // namespace solver_state
