// The handoff: claiming keys from the nodes that still hold them, pulling
// all of them in the background, and answering the other nodes' pulls.

#include "actors/cluster/handoff.hpp"

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include <caf/actor_cast.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/handoff_marker.hpp"
#include "messages/errors.hpp"
#include "util/wall_clock.hpp"

namespace solver_state {

namespace {

// -- claiming ----------------------------------------------------------------

/// One claim of a batch of keys, through its three steps: read every copy,
/// write the missing ones here, drop the others.
struct claim_run {
  std::vector<std::string> keys;
  /// Until when a source that cannot be reached is tried again.
  std::chrono::steady_clock::time_point patience;
  /// This node's entries, and each asked source's (same order as keys).
  batch_reply local;
  std::vector<uint32_t> asked;
  std::vector<batch_reply> copies;
  size_t waiting = 0;
  caf::error failure;
  /// Per key: its claim failed (error), and copies still to drop.
  std::vector<caf::error> errors;
  size_t inserted = 0;
};

using run_ptr = std::shared_ptr<claim_run>;

void settle_all(guard_ptr self, const run_ptr& run) {
  auto& st = self->state;
  for (size_t i = 0; i < run->keys.size(); ++i)
    st.claims.settle(run->keys[i], run->failure ? run->failure
                                                : run->errors[i]);
}

void drop_copies(guard_ptr self, run_ptr run);

/// Step 2: where this node lacks a key that a source holds, write the
/// source's copy here (create-only: never over a value of this node).
void take_copies(guard_ptr self, run_ptr run) {
  auto& st = self->state;
  auto now = unix_now_ms();
  run->errors.resize(run->keys.size());
  std::vector<std::pair<size_t, entry*>> inserts;
  for (size_t i = 0; i < run->keys.size(); ++i) {
    if (run->local.entries[i].found())
      continue;
    for (auto& copy : run->copies) {
      auto& e = copy.entries[i];
      if (!e.found())
        continue;
      if (e.expires_at_ms == 0 || e.expires_at_ms > now)
        inserts.emplace_back(i, &e);
      break;
    }
  }
  if (inserts.empty())
    return drop_copies(self, std::move(run));
  run->waiting = inserts.size();
  for (auto& [i, e] : inserts) {
    set_request req;
    req.key = run->keys[i];
    req.value = e->value;
    req.ttl_ms = 0;
    req.expires_at_ms = e->expires_at_ms;
    req.cond = condition::absent();
    auto done = [self, run, i = i](const caf::error& err) {
      // version_mismatch: the key is here after all; ours wins.
      if (err && code_of(err) != state_errc::version_mismatch)
        run->errors[i] = err;
      else if (!err)
        ++run->inserted;
      if (--run->waiting == 0)
        drop_copies(self, run);
    };
    self->request(st.settings.local, st.settings.timeout, put_atom_v,
                  std::move(req))
      .then([done](write_result&) { done({}); },
            [done](caf::error& err) { done(err); });
  }
}

/// Step 3: every copy elsewhere of a key now kept here is dropped, at the
/// version fetched; then the keys are this node's.
void drop_copies(guard_ptr self, run_ptr run) {
  auto& st = self->state;
  std::vector<handoff_keys> drops(run->asked.size());
  for (size_t j = 0; j < run->asked.size(); ++j) {
    drops[j].members = st.members().hash();
    for (size_t i = 0; i < run->keys.size(); ++i) {
      auto& e = run->copies[j].entries[i];
      if (e.found() && !run->errors[i]) {
        drops[j].keys.push_back(run->keys[i]);
        drops[j].versions.push_back(e.version);
      }
    }
  }
  run->waiting = 1;
  auto finish = [self, run] {
    if (--run->waiting != 0)
      return;
    self->state.keys_in += run->inserted;
    settle_all(self, run);
  };
  for (size_t j = 0; j < drops.size(); ++j) {
    if (drops[j].keys.empty())
      continue;
    ++run->waiting;
    auto& source = st.sources[run->asked[j]].source;
    auto dropped = std::make_shared<std::vector<std::string>>(drops[j].keys);
    self->request(source.handle, st.settings.timeout, handoff_drop_atom_v,
                  std::move(drops[j]))
      .then([finish](uint64_t) { finish(); },
            [run, dropped, finish, name = source.name](caf::error& err) {
              // The copy may still be there: the key is not ours yet.
              auto why = make_state_error(
                state_errc::backend_unavailable,
                "handoff: cannot drop the copy on " + name + ": "
                  + message_of(err));
              for (size_t i = 0; i < run->keys.size(); ++i)
                for (auto& k : *dropped)
                  if (run->keys[i] == k && !run->errors[i])
                    run->errors[i] = why;
              finish();
            });
  }
  finish();
}

void start_claim(guard_ptr self, std::vector<std::string> keys,
                 std::chrono::steady_clock::time_point patience);

/// A claim that could not read every copy is tried again while its
/// patience lasts (its keys stay claimed-in-progress, so their requests
/// wait), else its requests fail.
void claim_failed(guard_ptr self, run_ptr run) {
  auto& st = self->state;
  if (std::chrono::steady_clock::now() + st.settings.claim_retry
      > run->patience)
    return settle_all(self, run);
  st.claim_retries.push_back([self, run] {
    start_claim(self, std::move(run->keys), run->patience);
  });
  if (!st.retry_tick_due) {
    st.retry_tick_due = true;
    self->delayed_send(self, st.settings.claim_retry, handoff_step_atom_v,
                       claim_retry_tick);
  }
}

void run_claim_retries(guard_ptr self) {
  auto& st = self->state;
  st.retry_tick_due = false;
  auto due = std::move(st.claim_retries);
  st.claim_retries.clear();
  for (auto& retry : due)
    retry();
}

/// Whether `reply` can be the answer to a batch of `asked` keys: the
/// first keys' entries and the rest unprocessed (the values of all would
/// not fit one reply, max_reply_bytes), at least one entry.
bool answers(const batch_reply& reply, size_t asked) {
  return !reply.entries.empty()
         && reply.entries.size() + reply.unprocessed.size() == asked;
}

/// Once every reply of a claim has arrived: when some answered only their
/// first keys, this run keeps the keys every reply answered and the others
/// go to a claim of their own (still claimed in progress meanwhile, so
/// their requests wait). Each run keeps at least one key: a claim of
/// large values always gets through.
void split_partial_answers(guard_ptr self, const run_ptr& run) {
  auto answered = run->local.entries.size();
  for (auto& copy : run->copies)
    answered = std::min(answered, copy.entries.size());
  if (answered == run->keys.size())
    return;
  std::vector<std::string> rest(
    std::make_move_iterator(run->keys.begin() + answered),
    std::make_move_iterator(run->keys.end()));
  run->keys.resize(answered);
  run->local.entries.resize(answered);
  for (auto& copy : run->copies)
    copy.entries.resize(answered);
  start_claim(self, std::move(rest), run->patience);
}

/// Step 1: this node's entries and every pending source's copies.
void start_claim(guard_ptr self, std::vector<std::string> keys,
                 std::chrono::steady_clock::time_point patience) {
  auto& st = self->state;
  auto run = std::make_shared<claim_run>();
  run->keys = std::move(keys);
  run->patience = patience;
  for (uint32_t j = 0; j < st.sources.size(); ++j)
    if (!st.sources[j].done)
      run->asked.push_back(j);
  run->copies.resize(run->asked.size());
  run->waiting = 1 + run->asked.size();
  auto arrived = [self, run] {
    if (--run->waiting != 0)
      return;
    if (run->failure)
      return claim_failed(self, run);
    split_partial_answers(self, run);
    take_copies(self, run);
  };
  auto failed = [run, arrived](caf::error err) {
    if (!run->failure)
      run->failure = std::move(err);
    arrived();
  };
  auto expect = run->keys.size();
  self->request(st.settings.local, st.settings.timeout, batch_get_atom_v,
                batch_request{run->keys})
    .then(
      [run, arrived, failed, expect](batch_reply& reply) {
        if (!answers(reply, expect))
          return failed(make_state_error(state_errc::backend_unavailable,
                                         "handoff: the local store answered "
                                         "a short batch"));
        run->local = std::move(reply);
        arrived();
      },
      [failed](caf::error& err) { failed(err); });
  for (size_t j = 0; j < run->asked.size(); ++j) {
    auto& source = st.sources[run->asked[j]].source;
    self->request(source.handle, st.settings.timeout, handoff_fetch_atom_v,
                  handoff_keys{st.members().hash(), run->keys, {}})
      .then(
        [run, j, arrived, failed, expect, name = source.name](
          batch_reply& reply) {
          if (!answers(reply, expect))
            return failed(make_state_error(state_errc::backend_unavailable,
                                           "handoff: " + name
                                             + " answered a short fetch"));
          run->copies[j] = std::move(reply);
          arrived();
        },
        [failed, name = source.name](caf::error& err) {
          failed(make_state_error(state_errc::backend_unavailable,
                                  "handoff: the keys may still be on " + name
                                    + ", which does not answer: "
                                    + message_of(err)));
        });
  }
}

// -- the background pull -----------------------------------------------------

void finish_if_done(guard_ptr self) {
  auto& st = self->state;
  if (!st.active)
    return;
  for (auto& s : st.sources)
    if (!s.done)
      return;
  st.active = false;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                             - st.started)
                 .count();
  st.claims.forget_claimed();
  write_marker(st.settings.marker_path, st.members());
  spdlog::info("handoff: done in {:.2f} s: took over {} keys from {} "
               "node(s); this node holds every key it owns",
               st.seconds, st.keys_in, st.sources.size());
}

/// How long a source may fail before the log says so.
constexpr auto quiet_failures = std::chrono::seconds{5};

void retry_later(guard_ptr self, uint32_t i, const caf::error& err) {
  auto& st = self->state;
  auto& p = st.sources[i];
  auto now = std::chrono::steady_clock::now();
  if (!p.failing) {
    p.failing = true;
    p.failing_since = now;
  }
  if (!p.failure_logged && now - p.failing_since >= quiet_failures) {
    p.failure_logged = true;
    spdlog::warn("handoff: cannot pull from {} for {} s: {}; retrying every "
                 "{} ms (requests for keys it may hold wait, then fail)",
                 p.source.name, quiet_failures.count(), message_of(err),
                 st.settings.retry.count());
  }
  self->delayed_send(self, st.settings.retry, handoff_step_atom_v, i);
}

void advance(guard_ptr self, uint32_t i, std::string next_after, bool more) {
  auto& p = self->state.sources[i];
  if (p.failure_logged)
    spdlog::info("handoff: pulling from {} again", p.source.name);
  p.failing = false;
  p.failure_logged = false;
  if (!next_after.empty())
    p.after = std::move(next_after);
  if (more) {
    self->send(self, handoff_step_atom_v, i);
    return;
  }
  p.done = true;
  finish_if_done(self);
}

} // namespace

void start_handoff(guard_ptr self) {
  auto& st = self->state;
  for (auto& s : st.settings.sources)
    st.sources.push_back(source_progress{s, false, {}, false, false, {}});
  if (st.settings.shared_store) {
    spdlog::error("handoff: never on a store that other nodes share (every "
                  "key is in it already; a move would delete the key for "
                  "every node)");
    return;
  }
  if (st.members().self() == membership::none) {
    // A leaving node owns nothing: it only hands over. Its marker goes:
    // added back later under the member list it names (the same hosts as
    // before it left), it would skip its handoff and serve its share from
    // what it still holds, empty once drained.
    remove_marker(st.settings.marker_path);
    return;
  }
  if (marker_says_done(st.settings.marker_path, st.members())) {
    spdlog::info("handoff: none needed (this node pulled every key it owns "
                 "under this member list before, from every node of its "
                 "node.leaving)");
    return;
  }
  st.active = true;
  st.started = std::chrono::steady_clock::now();
  spdlog::info("handoff: pulling the keys this node owns under {} members "
               "from {} node(s) that may hold them",
               st.members().members().size(), st.sources.size());
  if (st.sources.empty())
    return finish_if_done(self);
  for (uint32_t i = 0; i < st.sources.size(); ++i)
    self->send(self, handoff_step_atom_v, i);
}

void claim_keys(guard_ptr self, const std::vector<std::string>& keys,
                claim_done done) {
  auto& st = self->state;
  auto to_claim = st.claims.wait_for(keys, std::move(done));
  auto batch = st.settings.claim_batch;
  auto patience = std::chrono::steady_clock::now()
                  + st.settings.claim_patience;
  for (size_t first = 0; first < to_claim.size(); first += batch) {
    auto last = std::min(to_claim.size(), first + batch);
    start_claim(self,
                {std::make_move_iterator(to_claim.begin() + first),
                 std::make_move_iterator(to_claim.begin() + last)},
                patience);
  }
}

namespace {

/// The most keys one claim of a prefix gathers (a placement group's keys
/// still held elsewhere): past it, the reader is asked to retry once the
/// handoff has moved them.
constexpr size_t max_claimed_prefix_keys = 100'000;

/// The keys a prefix claim gathers from its sources, and what is left.
struct prefix_gather {
  std::vector<std::string> keys;
  size_t waiting = 0;
  caf::error failure;
};

using gather_ptr = std::shared_ptr<prefix_gather>;

/// Lists every key under `prefix` that `source` holds, a page at a time
/// (a group may hold more than one page), into `g`; then `arrived`.
void gather_from(guard_ptr self, const handoff_source& source,
                 std::string prefix, std::string after, gather_ptr g,
                 std::function<void()> arrived) {
  auto& st = self->state;
  self->request(source.handle, st.settings.timeout, list_atom_v,
                list_request{prefix, after, 0})
    .then(
      [self, source, prefix, g, arrived](key_page& page) {
        auto last = page.keys.empty() ? std::string{} : page.keys.back();
        std::move(page.keys.begin(), page.keys.end(),
                  std::back_inserter(g->keys));
        if (!page.more || last.empty())
          return arrived();
        if (g->keys.size() >= max_claimed_prefix_keys) {
          if (!g->failure)
            g->failure = make_state_error(
              state_errc::backend_unavailable,
              "handoff: more than " + std::to_string(max_claimed_prefix_keys)
                + " keys of the group are still on " + source.name
                + "; retry once the handoff is over");
          return arrived();
        }
        gather_from(self, source, prefix, std::move(last), g, arrived);
      },
      [g, arrived, name = source.name](caf::error& err) {
        if (!g->failure)
          g->failure = make_state_error(state_errc::backend_unavailable,
                                        "handoff: keys of the group may "
                                        "still be on "
                                          + name + ": " + message_of(err));
        arrived();
      });
}

} // namespace

void claim_prefix(guard_ptr self, std::string prefix, claim_done done) {
  auto& st = self->state;
  auto g = std::make_shared<prefix_gather>();
  g->waiting = 1;
  auto arrived = [self, g, done] {
    if (--g->waiting != 0)
      return;
    if (g->failure)
      return done(g->failure);
    claim_keys(self, g->keys, done);
  };
  for (auto& p : st.sources) {
    if (p.done)
      continue;
    ++g->waiting;
    gather_from(self, p.source, prefix, {}, g, arrived);
  }
  arrived();
}

void scan_step(guard_ptr self, uint32_t i) {
  if (i == claim_retry_tick)
    return run_claim_retries(self);
  auto& st = self->state;
  if (i >= st.sources.size() || st.sources[i].done || !st.active)
    return;
  auto& p = st.sources[i];
  handoff_scan_request req;
  req.members = st.members().hash();
  req.requester = static_cast<uint32_t>(st.members().self());
  req.after = p.after;
  self->request(p.source.handle, st.settings.timeout, handoff_scan_atom_v,
                std::move(req))
    .then(
      [self, i](handoff_scan_page& page) {
        if (page.keys.empty())
          return advance(self, i, std::move(page.next_after), page.more);
        auto next = std::make_shared<handoff_scan_page>(std::move(page));
        claim_keys(self, next->keys, [self, i, next](const caf::error& err) {
          if (err)
            return retry_later(self, i, err);
          advance(self, i, std::move(next->next_after), next->more);
        });
      },
      [self, i](caf::error& err) { retry_later(self, i, err); });
}

handoff_stats stats_of(const member_guard_state& st) {
  handoff_stats out;
  out.active = st.active;
  out.sources = static_cast<uint32_t>(st.sources.size());
  for (auto& s : st.sources)
    if (st.active && !s.done)
      ++out.sources_pending;
  out.keys_in = st.keys_in;
  out.keys_out = st.keys_out;
  out.seconds = st.active
                  ? std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - st.started)
                      .count()
                  : st.seconds;
  return out;
}

// -- the holder's side -------------------------------------------------------

namespace {

/// Copies leave a store only when it is this node's alone: on a shared
/// engine the other node's "copy" is the key itself.
caf::error refuse_if_shared(const member_guard_state& st) {
  if (!st.settings.shared_store)
    return {};
  return make_state_error(state_errc::bad_request,
                          "handoff: node " + st.members().self_name()
                            + " keeps its keys in an engine that every "
                              "node shares: nothing is handed over");
}

} // namespace

caf::result<handoff_scan_page> answer_scan(guard_ptr self,
                                           handoff_scan_request& req) {
  auto& st = self->state;
  if (auto err = refuse_if_shared(st))
    return err;
  if (auto err = st.members().other_list(req.members))
    return err;
  if (req.requester >= st.members().members().size())
    return make_state_error(state_errc::bad_request,
                            "handoff: no member with index "
                              + std::to_string(req.requester));
  auto rp = self->make_response_promise<handoff_scan_page>();
  auto requester = req.requester;
  self->request(st.settings.local, st.settings.timeout, list_atom_v,
                list_request{"", req.after, st.settings.scan_page})
    .then(
      [self, rp, requester](key_page& page) mutable {
        handoff_scan_page out;
        out.more = page.more;
        if (!page.keys.empty())
          out.next_after = page.keys.back();
        for (auto& key : page.keys)
          if (self->state.members().owner(key) == requester)
            out.keys.push_back(std::move(key));
        rp.deliver(std::move(out));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<batch_reply> answer_fetch(guard_ptr self, handoff_keys& req) {
  auto& st = self->state;
  if (auto err = refuse_if_shared(st))
    return err;
  if (auto err = st.members().other_list(req.members))
    return err;
  // Only copies of keys this node no longer owns leave it this way: its own
  // keys change under its requests, and no other member owns them.
  for (auto& key : req.keys)
    if (st.members().owns(key))
      return make_state_error(state_errc::bad_request,
                              "handoff: '" + key + "' belongs to "
                                + st.members().self_name());
  return self->delegate(st.settings.local, batch_get_atom_v,
                        batch_request{std::move(req.keys)});
}

namespace {

/// Drops this node's copy of `key`, fetched at `version`; then `then`
/// with whether it removed one, or the error. Absent (expired, or a drop
/// repeated after a lost reply), it is gone already. At another version it
/// was re-encrypted here since the fetch (a rotation's walk is the only
/// change a node makes to a key it does not own: the same value, a new
/// version): it is dropped at that version once (`retry`), or it would
/// stay behind for good, and win against the owner's writes at a later
/// membership change.
void drop_copy(guard_ptr self, std::string key, version_t version,
               bool retry,
               std::function<void(bool, const caf::error&)> then) {
  auto& st = self->state;
  delete_request del;
  del.key = key;
  del.cond = condition::matches(version);
  self->request(st.settings.local, st.settings.timeout, delete_atom_v,
                std::move(del))
    .then([then](bool removed) { then(removed, {}); },
          [self, key, retry, then](caf::error& err) {
            auto code = code_of(err);
            if (code == state_errc::not_found)
              return then(false, {});
            if (code != state_errc::version_mismatch)
              return then(false, err);
            if (!retry)
              return then(false, make_state_error(
                                   state_errc::backend_unavailable,
                                   "handoff: the copy of '" + key
                                     + "' changed while it was dropped; "
                                       "retried"));
            self
              ->request(self->state.settings.local,
                        self->state.settings.timeout, get_atom_v, key)
              .then(
                [self, key, then](entry& now) {
                  if (!now.found())
                    return then(false, {});
                  drop_copy(self, key, now.version, false, then);
                },
                [then](caf::error& gone) {
                  if (code_of(gone) == state_errc::not_found)
                    return then(false, {});
                  then(false, gone);
                });
          });
}

} // namespace

caf::result<uint64_t> answer_drop(guard_ptr self, handoff_keys& req) {
  auto& st = self->state;
  if (auto err = refuse_if_shared(st))
    return err;
  if (auto err = st.members().other_list(req.members))
    return err;
  if (req.versions.size() != req.keys.size())
    return make_state_error(state_errc::bad_request,
                            "handoff: a drop needs one version per key");
  for (auto& key : req.keys)
    if (st.members().owns(key))
      return make_state_error(state_errc::bad_request,
                              "handoff: '" + key + "' belongs to "
                                + st.members().self_name());
  auto rp = self->make_response_promise<uint64_t>();
  struct tally {
    size_t waiting = 0;
    uint64_t dropped = 0;
    caf::error failure;
  };
  auto t = std::make_shared<tally>();
  t->waiting = req.keys.size();
  if (t->waiting == 0)
    return uint64_t{0};
  auto done = [self, rp, t]() mutable {
    if (--t->waiting != 0)
      return;
    self->state.keys_out += t->dropped;
    if (t->failure)
      rp.deliver(t->failure);
    else
      rp.deliver(t->dropped);
  };
  for (size_t i = 0; i < req.keys.size(); ++i)
    drop_copy(self, std::move(req.keys[i]), req.versions[i], true,
              [t, done](bool removed, const caf::error& err) mutable {
                t->dropped += removed ? 1 : 0;
                if (err && !t->failure)
                  t->failure = err;
                done();
              });
  return rp;
}

} // namespace solver_state
