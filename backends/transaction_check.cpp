// Transaction preconditions against a key's live entry, and putting back.

#include "backends/transaction_check.hpp"

#include <limits>
#include <string_view>

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

namespace {

/// The entry of a key whose value could not be read: found, at a version
/// no read gives back (so a read-back tells it changed), no value.
entry held_unreadable() {
  return entry{{}, std::numeric_limits<version_t>::max(), 0};
}

} // namespace

caf::expected<std::vector<prior_entry>>
check_transaction(state_store& store, const std::vector<pending_op>& ops,
                  unix_ms now) {
  std::vector<prior_entry> prior;
  prior.reserve(ops.size());
  for (auto& op : ops) {
    auto& cond = op.kind == pending_op::set ? op.write.cond : op.removal.cond;
    auto current = store.get(op.target(), now);
    if (!current && code_of(current.error()) != state_errc::not_found) {
      if (!is_value_error(current.error()) || cond.kind != condition::none)
        return std::move(current.error());
      prior.push_back(prior_entry{op.target(), held_unreadable(), true});
      continue;
    }
    entry live = current ? std::move(*current) : entry{};
    if (auto err = transaction_condition_problem(op.target(), cond, live))
      return err;
    prior.push_back(prior_entry{op.target(), std::move(live)});
  }
  return prior;
}

caf::error put_back(state_store& store, std::vector<prior_entry>& prior,
                    unix_ms now) {
  caf::error first;
  auto note = [&](const std::string& key, const caf::error& err) {
    if (!first)
      first = partly_applied("key '" + key + "' could not be put back: "
                             + message_of(err));
  };
  for (auto& p : prior)
    if (!p.before.found())
      if (auto gone = store.erase(delete_request{p.key, condition::always()},
                                  now);
          !gone)
        note(p.key, gone.error());
  for (auto& p : prior)
    if (p.unreadable)
      note(p.key, make_state_error(state_errc::backend_error,
                                   "its value could not be read before"));
  for (auto& p : prior)
    if (p.before.found() && !p.unreadable)
      if (auto back = store.set(set_request{p.key, std::move(p.before.value),
                                            0, condition::always(), 0},
                                p.before.expires_at_ms, now);
          !back)
        note(p.key, back.error());
  return first;
}

namespace {

constexpr std::string_view partly_applied_words = "transaction partly applied";
constexpr std::string_view given_up_words =
  "transaction not applied: another part of it failed";

} // namespace

caf::error partly_applied(const std::string& why) {
  return make_state_error(state_errc::backend_error,
                          std::string{partly_applied_words}
                            + " and not put back whole: " + why);
}

bool is_partly_applied(const caf::error& err) {
  return code_of(err) == state_errc::backend_error
         && message_of(err).rfind(partly_applied_words, 0) == 0;
}

caf::error given_up_for_another_part() {
  return make_state_error(state_errc::version_mismatch,
                          std::string{given_up_words});
}

bool is_given_up_for_another_part(const caf::error& err) {
  return code_of(err) == state_errc::version_mismatch
         && message_of(err).rfind(given_up_words, 0) == 0;
}

} // namespace solver_state
