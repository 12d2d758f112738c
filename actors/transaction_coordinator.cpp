// The transaction coordinator: lock every shard of the transaction in index
// order, let each apply its part, keep or put back all parts together.

#include "actors/transaction_coordinator.hpp"

#include <chrono>
#include <iterator>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/transaction_rules.hpp"
#include "backends/transaction_check.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// One shard's share of the transaction.
struct part {
  size_t owner = 0;
  transaction_request request;
  std::vector<size_t> positions; // of its ops in the whole request
  std::optional<caf::typed_response_promise<bool>> waiting; // locked/applied
  bool asked = false;    // its lock request was sent
  bool answered = false; // and answered
  /// What it applied, for the watch hub once the transaction is kept.
  std::vector<change_event> changes;
};

struct coordinator_state {
  static inline const char* name = "solver-state.transaction";

  ownership_ptr<shard_actor> map;
  /// When the transaction came in: its duration in the metrics.
  std::chrono::steady_clock::time_point started;
  std::vector<part> parts; // in owner index order: the locking order
  caf::typed_response_promise<transaction_reply> client;
  transaction_reply reply;
  caf::error failure; // the first reason to give up
  size_t applied_reports = 0;
  bool all_applied_ok = true;
  size_t answered = 0;
  /// Keep every part (true) or put every part back (false): decided once,
  /// by the first failure or by the last part's report, and told to every
  /// part, also to one that reports after it. A part's answer that comes
  /// late (its request timed out) must not split the transaction.
  std::optional<bool> decision;
};

using coordinator_ptr =
  transaction_coordinator::stateful_pointer<coordinator_state>;

/// Splits `req` into one part per owner, ordered by owner index.
std::vector<part> split(const ownership<shard_actor>& map,
                        transaction_request& req) {
  std::map<size_t, part> by_owner;
  for (size_t i = 0; i < req.ops.size(); ++i) {
    auto owner = map.owner_of_key(req.ops[i].key);
    auto& p = by_owner[owner];
    p.owner = owner;
    p.request.ops.push_back(std::move(req.ops[i]));
    p.positions.push_back(i);
  }
  std::vector<part> out;
  for (auto& [owner, p] : by_owner)
    out.push_back(std::move(p));
  return out;
}

/// Answers every part that waits for an answer with `go`.
void answer_waiting(coordinator_ptr self, bool go) {
  for (auto& p : self->state.parts)
    if (p.waiting) {
      p.waiting->deliver(go);
      p.waiting.reset();
    }
}

/// Sends the changes of every part to the watch hub as one message, so a
/// watcher gets the transaction's writes together. Before any part is
/// unlocked: a later write of one of its keys (which its shard takes only
/// once unlocked) reaches the hub after it.
void publish_changes(coordinator_ptr self) {
  auto& st = self->state;
  std::vector<change_event> all;
  for (auto& p : st.parts) {
    std::move(p.changes.begin(), p.changes.end(), std::back_inserter(all));
    p.changes = {};
  }
  if (!all.empty() && st.map->hub)
    self->send(st.map->hub, changes_atom_v, std::move(all));
}

/// Keeps or puts back every part, once.
void decide(coordinator_ptr self, bool keep) {
  auto& st = self->state;
  if (st.decision)
    return;
  st.decision = keep;
  if (keep)
    publish_changes(self);
  answer_waiting(self, keep);
}

/// Counts the transaction once, with the answer its client gets, in the
/// metrics of the shard of its first part (asked first, whatever fails
/// later). Counted by each part, one transaction over four shards was four
/// in state_operations_total, and a part put back because another failed
/// counted as a version_mismatch, a conflict there was none of.
void count(coordinator_ptr self) {
  auto& st = self->state;
  if (st.parts.empty())
    return;
  auto took = std::chrono::duration_cast<caf::timespan>(
    std::chrono::steady_clock::now() - st.started);
  self->send(st.map->owners[st.parts.front().owner], txn_done_atom_v,
             st.failure, took);
}

/// Ends the transaction once every lock request has its answer. A part
/// still waiting (its request timed out, its shard has not seen the
/// answer) is told the decision first: CAF 0.17 answers nothing for an
/// actor that quits, and the shard would stay locked until its own limit.
void finish_if_done(coordinator_ptr self) {
  auto& st = self->state;
  if (st.answered < st.parts.size())
    return;
  answer_waiting(self, st.decision.value_or(false));
  count(self);
  if (st.failure)
    st.client.deliver(st.failure);
  else
    st.client.deliver(std::move(st.reply));
  self->quit();
}

/// Parts never asked to lock (a part before them failed) count as answered.
void skip_unasked(coordinator_ptr self) {
  auto& st = self->state;
  for (auto& p : st.parts)
    if (!p.asked) {
      p.asked = p.answered = true;
      ++st.answered;
    }
}

/// A shard answered its lock request: with its versions once the whole
/// transaction is kept, or with why its part failed or was given up.
void on_part_answer(coordinator_ptr self, size_t index,
                    caf::expected<transaction_reply> outcome) {
  auto& st = self->state;
  auto& p = st.parts[index];
  p.answered = true;
  ++st.answered;
  if (outcome) {
    for (size_t i = 0; i < p.positions.size() && i < outcome->versions.size();
         ++i)
      st.reply.versions[p.positions[i]] = outcome->versions[i];
  } else if (!st.failure) {
    // The first failure is the reason. Before the decision the shards
    // still locked give up; after a decision to keep, every part has
    // applied and was told to keep, and only this part's answer is
    // missing: the client hears that, not that nothing was applied.
    st.failure = std::move(outcome.error());
    if (st.decision == true)
      st.failure = make_state_error(
        code_of(st.failure),
        "the transaction was applied (every part was told to keep it), but "
        "one part's answer did not come in time: "
          + message_of(st.failure));
    else if (code_of(st.failure) == state_errc::timeout
             || code_of(st.failure) == state_errc::backend_unavailable)
      // CAF's own errors (a timeout, a shard that stopped) say nothing of
      // the outcome, and a client takes a 504 for "maybe applied": nothing
      // was kept, since no part was told to keep.
      st.failure = make_state_error(
        code_of(st.failure),
        "transaction not applied: shard " + std::to_string(p.owner)
          + " did not answer its part: " + message_of(st.failure));
    decide(self, false);
    skip_unasked(self);
  } else if (is_partly_applied(outcome.error())
             && !is_partly_applied(st.failure)) {
    // A part that could not be put back outweighs the reason it was put
    // back: the client must learn that some keys hold the transaction.
    st.failure = std::move(outcome.error());
  } else if (is_given_up_for_another_part(st.failure)
             && !is_given_up_for_another_part(outcome.error())
             && st.decision != true) {
    // A part that gave up (told that another failed) may answer before
    // the part that failed: the client hears why, not "another part".
    st.failure = std::move(outcome.error());
  }
  finish_if_done(self);
}

void lock_part(coordinator_ptr self, size_t index) {
  auto& st = self->state;
  auto& p = st.parts[index];
  p.asked = true;
  self
    ->request(st.map->owners[p.owner], st.map->timeout, txn_lock_atom_v,
              static_cast<uint32_t>(index), std::move(p.request),
              caf::actor_cast<transaction_coordinator>(self))
    .then(
      [self, index](transaction_reply& r) {
        on_part_answer(self, index, std::move(r));
      },
      [self, index](caf::error& err) {
        on_part_answer(self, index, std::move(err));
      });
}

transaction_coordinator::behavior_type
coordinator(coordinator_ptr self, ownership_ptr<shard_actor> map) {
  self->state.map = std::move(map);
  return {
    [self](transact_atom, transaction_request& req)
      -> caf::result<transaction_reply> {
      auto& st = self->state;
      st.started = std::chrono::steady_clock::now();
      transaction_limits limits{st.map->max_batch_keys, st.map->max_value_bytes,
                                st.map->max_reply_bytes};
      if (auto err = transaction_problem(req, limits)) {
        self->quit();
        return err;
      }
      st.reply.versions.assign(req.ops.size(), 0);
      st.parts = split(*st.map, req);
      st.client = self->make_response_promise<transaction_reply>();
      lock_part(self, 0);
      return st.client;
    },
    [self](txn_locked_atom, uint32_t index) -> caf::result<bool> {
      auto& st = self->state;
      if (index >= st.parts.size())
        return false;
      if (st.failure || st.decision) // a lock after a failure: give up
        return false;
      auto rp = self->make_response_promise<bool>();
      st.parts[index].waiting = rp;
      if (index + 1 < st.parts.size())
        lock_part(self, index + 1);
      else
        answer_waiting(self, true); // every shard locked: apply
      return rp;
    },
    [self](txn_applied_atom, uint32_t index, bool ok,
           std::vector<change_event>& changes) -> caf::result<bool> {
      auto& st = self->state;
      if (index >= st.parts.size())
        return false;
      if (st.decision) // decided without this part: it follows
        return *st.decision;
      auto rp = self->make_response_promise<bool>();
      st.parts[index].waiting = rp;
      st.parts[index].changes = std::move(changes);
      st.all_applied_ok = st.all_applied_ok && ok;
      if (++st.applied_reports == st.parts.size())
        decide(self, st.all_applied_ok); // keep all, or put all back
      return rp;
    },
  };
}

/// A coordinator for owners it cannot lock (nodes of a cluster).
transaction_coordinator::behavior_type
refusing_coordinator(transaction_coordinator::pointer self) {
  return {
    [self](transact_atom, transaction_request&)
      -> caf::result<transaction_reply> {
      self->quit();
      return make_state_error(state_errc::cross_node_transaction,
                              "a transaction over several nodes");
    },
    [](txn_locked_atom, uint32_t) { return false; },
    [](txn_applied_atom, uint32_t, bool, std::vector<change_event>&) {
      return false;
    },
  };
}

} // namespace

template <class Owner>
transaction_coordinator
spawn_transaction_coordinator(caf::actor_system& sys,
                              ownership_ptr<Owner> map) {
  if constexpr (std::is_same_v<Owner, shard_actor>)
    return sys.spawn(coordinator, std::move(map));
  else
    return sys.spawn(refusing_coordinator);
}

template transaction_coordinator
spawn_transaction_coordinator<shard_actor>(caf::actor_system&,
                                           ownership_ptr<shard_actor>);
template transaction_coordinator
spawn_transaction_coordinator<state_actor>(caf::actor_system&,
                                           ownership_ptr<state_actor>);

} // namespace solver_state
