// Transactions on Redis: every op of one transaction in one Lua script call,
// which Redis runs without interleaving any other client's command. The
// script checks every condition before it writes anything, so a failing
// condition applies nothing; a lost connection either ran the whole script
// or none of it.

#include "backends/redis/store.hpp"

#include <cstdlib>

#include <hiredis/hiredis.h>

#include "backends/transaction_check.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

caf::error malformed_reply(const std::string& what) {
  return make_state_error(state_errc::backend_error,
                          "redis: unexpected transaction reply: " + what);
}

const condition& condition_of(const pending_op& op) {
  return op.kind == pending_op::set ? op.write.cond : op.removal.cond;
}

/// The script's refusal {code, op index, live version or ''} as the error
/// transaction_condition_problem words for that key.
caf::error refusal(const redisReply* reply, const std::vector<pending_op>& ops) {
  if (reply->element[0]->integer == -4)
    return make_state_error(state_errc::capacity_exceeded,
                            "transaction not applied: the store holds "
                            "max_items keys");
  if (reply->elements != 3 || reply->element[1]->type != REDIS_REPLY_INTEGER)
    return malformed_reply("refusal");
  auto index = reply->element[1]->integer;
  if (index < 1 || static_cast<size_t>(index) > ops.size())
    return malformed_reply("refused op index");
  auto& op = ops[static_cast<size_t>(index - 1)];
  entry current;
  if (reply->element[2]->type == REDIS_REPLY_STRING)
    current.version = std::strtoull(
      std::string{text_of(reply->element[2])}.c_str(), nullptr, 10);
  if (auto err = transaction_condition_problem(op.target(), condition_of(op),
                                               current))
    return err;
  return make_state_error(state_errc::version_mismatch,
                          "transaction not applied: key '" + op.target()
                            + "' does not meet its condition");
}

/// One op's outcome from the script's reply element.
caf::error take_outcome(pending_op& op, const redisReply* item) {
  if (op.kind == pending_op::erase) {
    if (item->type != REDIS_REPLY_INTEGER)
      return malformed_reply("erase outcome");
    op.erased = item->integer == 1;
    return {};
  }
  if (item->type != REDIS_REPLY_STRING)
    return malformed_reply("set outcome");
  std::string text{text_of(item)};
  bool created = !text.empty() && text.front() == 'c';
  auto version = std::strtoull(text.c_str() + (created ? 1 : 0), nullptr, 10);
  if (version == 0)
    return malformed_reply("set version");
  op.written = write_result{version, created};
  return {};
}

} // namespace

bool redis_store::shares_data() const {
  return true;
}

caf::error redis_store::transact(std::vector<pending_op>& ops, unix_ms now) {
  // Versions come from this store's reserved block before the script runs:
  // a version unused because the transaction failed is only a gap.
  std::vector<std::string> versions(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind != pending_op::set)
      continue;
    auto version = take_version();
    if (!version)
      return std::move(version.error());
    versions[i] = std::to_string(*version);
  }
  std::vector<std::string> value_keys;
  value_keys.reserve(ops.size());
  for (auto& op : ops)
    value_keys.push_back(value_key(op.target()));
  redis_args keys{index_key_, expiry_key_};
  for (auto& vk : value_keys)
    keys.push_back(vk);
  auto now_text = std::to_string(now);
  auto max_text = std::to_string(max_items_);
  // Decimal texts of every op, kept alive while the args point into them.
  std::vector<std::string> texts;
  texts.reserve(ops.size() * 3);
  redis_args args{now_text, max_text};
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    auto& cond = condition_of(op);
    bool is_set = op.kind == pending_op::set;
    texts.push_back(std::to_string(static_cast<int>(cond.kind)));
    auto& kind_text = texts.back();
    texts.push_back(std::to_string(cond.version));
    auto& version_text = texts.back();
    texts.push_back(std::to_string(is_set ? op.expires_at : 0));
    auto& expiry_text = texts.back();
    args.insert(args.end(),
                {is_set ? "0" : "1", kind_text, version_text, expiry_text,
                 is_set ? std::string_view{op.write.value} : std::string_view{},
                 op.target(), versions[i]});
  }
  args.push_back(channel_);
  if (auto err = conn_.ensure_connected())
    return err;
  auto r = run_script(conn_, transaction_script_, keys, args);
  if (!r)
    return std::move(r.error());
  auto* reply = r->get();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
      || reply->element[0]->type != REDIS_REPLY_INTEGER)
    return malformed_reply("not an array");
  if (reply->element[0]->integer != 0)
    return refusal(reply, ops);
  if (reply->elements != ops.size() + 1)
    return malformed_reply("outcome count");
  for (size_t i = 0; i < ops.size(); ++i)
    if (auto err = take_outcome(ops[i], reply->element[i + 1]))
      return err;
  // A second round trip: the script's reply must come first to know it
  // wrote. Its writes are applied on the master; a shortfall says they may
  // not survive a failover (the transaction's outcome is then unknown).
  if (!waits())
    return {};
  one_.clear();
  add_wait(one_);
  auto w = conn_.pipeline(one_);
  if (!w)
    return std::move(w.error());
  return replicas_short(w->back().get());
}

} // namespace solver_state
