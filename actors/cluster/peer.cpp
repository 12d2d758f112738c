// The peer actor: forwards state requests to one remote node within a
// bounded window and queue, coalesces reads, and redials with backoff.

#include "actors/cluster/peer.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <caf/actor_cast.hpp>
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/cluster/connector.hpp"
#include "messages/keys.hpp"
#include "messages/metrics.hpp"

namespace solver_state {

namespace {

using clock_type = std::chrono::steady_clock;

/// A read waiting to be sent in the next coalesced batch_get: a single-key
/// get (answered with an entry or not_found) or a client's batch (answered
/// with its part of the combined reply).
struct pending_read {
  bool single = true;
  std::vector<std::string> keys;
  /// Per key, its place among the distinct keys of the coalesced batch
  /// (flush_reads): two reads of one key ask for it once, as the remote
  /// refuses a batch that names a key twice.
  std::vector<uint32_t> slots;
  caf::typed_response_promise<entry> entry_rp;
  caf::typed_response_promise<batch_reply> batch_rp;

  void fail(const caf::error& err) {
    if (single)
      entry_rp.deliver(err);
    else
      batch_rp.deliver(err);
  }
};

/// A request on the wire. Its client hears within request_timeout, but its
/// window slot stays taken until the remote answers or the connection is
/// lost: a request that timed out is still in the remote's mailbox or on
/// its way there, and freeing its slot let a stalled peer (its middleman
/// answering heartbeats, its store frozen) take request_timeout's worth of
/// a window after another, without bound. Found by review.
struct sent_call {
  /// Its place in peer_state::calls.
  uint64_t seq = 0;
  /// When the client is told there was no answer (actor clock).
  caf::actor_clock::time_point deadline;
  /// The connection it went out on (peer_state::generation).
  uint64_t generation = 0;
  /// The client has its answer (the reply, an error, or the timeout).
  bool settled = false;
  /// Settled by the timeout: its slot counts as abandoned until it ends.
  bool abandoned = false;
  std::function<void(caf::error)> on_timeout;
};

/// A request waiting for a free slot in the window.
struct queued_request {
  clock_type::time_point deadline;
  std::function<void()> start;
  std::function<void(caf::error)> fail;
};

struct peer_state {
  static inline const char* name = "solver-state.peer";
  peer_settings settings;
  connector_actor connector;
  state_actor remote;
  std::chrono::milliseconds backoff{0};
  bool failing = false; // a failed-attempt streak is logged once
  /// When the connection last came up and was last lost, and when a
  /// flapping connection was last reported (see on_lost).
  std::chrono::steady_clock::time_point connected_at;
  std::chrono::steady_clock::time_point lost_at;
  std::chrono::steady_clock::time_point flap_reported_at;
  /// Losses within flap_window of connecting since the last report.
  size_t flaps = 0;
  /// Requests on the wire, those whose client was told there was no
  /// answer (abandoned) included; and the abandoned ones alone.
  size_t in_flight = 0;
  size_t abandoned = 0;
  /// Counts connections, so that calls of a lost one free no slot of the
  /// next (the lost connection's are forgotten at once).
  uint64_t generation = 0;
  /// Calls not yet settled (at most a window's worth, and those of a lost
  /// connection until their deadline), by sequence number: oldest first,
  /// and as all have the same timeout, also in deadline order.
  std::map<uint64_t, std::shared_ptr<sent_call>> calls;
  uint64_t next_call = 0;
  /// A tick (peer_flush) is scheduled for `expiry_at`, the oldest call's
  /// deadline. Ticks for coalesced reads come in between: only one at or
  /// after expiry_at disarms it, so there is one timer at a time.
  bool expiry_armed = false;
  caf::actor_clock::time_point expiry_at;
  std::deque<queued_request> queue;
  std::vector<pending_read> reads;
  size_t read_key_count = 0; // of all pending reads, repeats counted
  bool flush_pending = false;
  peer_stats stats;

  caf::error unavailable(const std::string& why) {
    count(state_errc::backend_unavailable);
    return make_state_error(state_errc::backend_unavailable,
                            "peer " + settings.name + ": " + why);
  }

  void count(state_errc code) {
    auto i = static_cast<size_t>(code);
    if (i < stats.results.size())
      ++stats.results[i];
  }

  /// What a client sees for a failed remote request: the store's own errors
  /// pass through; transport failures (including CAF's request_timeout,
  /// which is how a request to a dead remote actor ends) become
  /// backend_unavailable naming the peer.
  caf::error to_client_error(const caf::error& err) {
    if (err.category() == state_error_category()) {
      count(code_of(err));
      return err;
    }
    if (err == caf::sec::request_timeout)
      return unavailable("no answer within "
                         + std::to_string(settings.request_timeout.count())
                         + "ms");
    if (code_of(err) == state_errc::serialization_error) {
      count(state_errc::serialization_error);
      return make_state_error(state_errc::serialization_error,
                              "peer " + settings.name + ": "
                                + message_of(err));
    }
    return unavailable(message_of(err));
  }
};

using peer_ptr = peer_actor::stateful_pointer<peer_state>;

/// Past max_abandoned unanswered requests the peer is stalled: requests
/// fail at once instead of waiting for a slot that frees only when it
/// answers again.
bool stalled(const peer_state& st) {
  return st.abandoned >= st.settings.max_abandoned;
}

std::string stalled_reason(const peer_state& st) {
  return "not answering: " + std::to_string(st.abandoned)
         + " requests unanswered past "
         + std::to_string(st.settings.request_timeout.count())
         + "ms; failing at once until it answers";
}

/// Starts queued requests while the window has room; drops those that waited
/// past their deadline (their client has been told already by no one, so
/// tell it now). While disconnected or stalled it fails every queued
/// request, full window or not: nothing queued would be sent in time.
void drain(peer_ptr self) {
  auto& st = self->state;
  auto now = clock_type::now();
  while (!st.queue.empty()
         && (!st.remote || stalled(st)
             || st.in_flight < st.settings.window)) {
    auto next = std::move(st.queue.front());
    st.queue.pop_front();
    if (!st.remote)
      next.fail(st.unavailable("not connected"));
    else if (stalled(st))
      next.fail(st.unavailable(stalled_reason(st)));
    else if (now > next.deadline)
      next.fail(st.unavailable("overloaded: no free slot within "
                               + std::to_string(
                                 st.settings.request_timeout.count())
                               + "ms"));
    else
      next.start();
  }
}

/// The client of `call` has its answer: no timeout for it any more.
void settle(peer_state& st, sent_call& call) {
  call.settled = true;
  st.calls.erase(call.seq);
}

/// Schedules a tick for the oldest unsettled call's deadline, unless one is
/// scheduled already.
void arm_expiry(peer_ptr self) {
  auto& st = self->state;
  if (st.expiry_armed || st.calls.empty())
    return;
  st.expiry_armed = true;
  st.expiry_at = st.calls.begin()->second->deadline;
  // Rounded up: a tick that came before expiry_at would not disarm, and
  // no other timer would ever come.
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(
    st.expiry_at - self->clock().now());
  self->delayed_send(self, std::max(delay, std::chrono::milliseconds{0}),
                     peer_flush_atom_v);
}

/// Tells the clients of calls past their deadline that there was no
/// answer. Their slots stay taken (abandoned) until the remote answers.
void expire_calls(peer_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  if (now >= st.expiry_at)
    st.expiry_armed = false;
  while (!st.calls.empty() && st.calls.begin()->second->deadline <= now) {
    auto call = st.calls.begin()->second;
    settle(st, *call);
    call->abandoned = true;
    if (call->generation == st.generation)
      ++st.abandoned;
    call->on_timeout(st.to_client_error(caf::sec::request_timeout));
  }
  arm_expiry(self);
  drain(self);
}

/// A call ended (answered, or given up by CAF after late_reply_wait): its
/// slot is free, unless it went out on a connection lost since.
void release(peer_state& st, const sent_call& call) {
  if (call.generation != st.generation)
    return;
  --st.in_flight;
  if (call.abandoned)
    --st.abandoned;
}

/// Sends `xs...` to the remote router now; `on_reply` or `on_error` (with
/// the client-facing error) runs when it answers or when request_timeout
/// passes, whichever comes first. The caller has checked that the window
/// has room and the peer is connected.
template <class Reply, class OnReply, class OnError, class... Ts>
void send_remote(peer_ptr self, OnReply on_reply, OnError on_error,
                 Ts... xs) {
  auto& st = self->state;
  ++st.in_flight;
  auto call = std::make_shared<sent_call>();
  call->seq = st.next_call++;
  call->deadline = self->clock().now() + st.settings.request_timeout;
  call->generation = st.generation;
  call->on_timeout = on_error;
  st.calls.emplace(call->seq, call);
  arm_expiry(self);
  // The remote end is a member guard (member_guard.hpp), published as a
  // plain state actor: the handoff messages are sent through the wider
  // handle. CAF's own timeout is the longer late_reply_wait: with
  // request_timeout, CAF would drop the late reply that frees the slot.
  auto remote = caf::actor_cast<member_actor>(st.remote);
  auto wait = std::max(st.settings.late_reply_wait,
                       st.settings.request_timeout);
  self->request(remote, wait, std::move(xs)...)
    .then(
      [self, call, on_reply](Reply& reply) mutable {
        auto& st = self->state;
        release(st, *call);
        if (!call->settled) {
          settle(st, *call);
          on_reply(reply);
        }
        drain(self);
      },
      [self, call, on_error](caf::error& err) mutable {
        auto& st = self->state;
        release(st, *call);
        if (!call->settled) {
          settle(st, *call);
          on_error(st.to_client_error(err));
        }
        drain(self);
      });
}

/// Starts `start` now if the window has room, else queues it (bounded);
/// `fail` tells the client why it was not sent.
void submit(peer_ptr self, std::function<void()> start,
            std::function<void(caf::error)> fail) {
  auto& st = self->state;
  if (!st.remote) {
    fail(st.unavailable("not connected"));
  } else if (stalled(st)) {
    fail(st.unavailable(stalled_reason(st)));
  } else if (st.in_flight < st.settings.window && st.queue.empty()) {
    start();
  } else if (st.queue.size() < st.settings.max_queued) {
    auto deadline = clock_type::now() + st.settings.request_timeout;
    st.queue.push_back({deadline, std::move(start), std::move(fail)});
  } else {
    fail(st.unavailable("overloaded: " + std::to_string(st.queue.size())
                        + " requests queued"));
  }
}

/// Forwards one request to the remote router, within the window.
template <class Reply, class... Ts>
caf::result<Reply> forward(peer_ptr self, Ts... xs) {
  if (!self->state.remote)
    return self->state.unavailable("not connected");
  auto rp = self->make_response_promise<Reply>();
  auto start = [self, rp, xs...]() mutable {
    send_remote<Reply>(
      self,
      [self, rp](Reply& reply) mutable {
        self->state.count(state_errc::none);
        rp.deliver(std::move(reply));
      },
      [rp](caf::error err) mutable { rp.deliver(std::move(err)); }, xs...);
  };
  submit(self, std::move(start),
         [rp](caf::error err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// -- coalesced reads --------------------------------------------------------------

/// Gets and batch_gets that arrive together travel as one batch_get: one
/// wire message and one remote fan-out instead of one per request. The flush
/// is a message to self, so it runs right after the reads already in the
/// mailbox and adds no timer latency.

/// Sends `read` alone: the part of a coalesced batch the remote did not
/// answer (its values did not fit one reply). The remote answers at least
/// the first key of a batch, so a read sent alone always gets somewhere.
void send_alone(peer_ptr self, pending_read read) {
  auto shared = std::make_shared<pending_read>(std::move(read));
  auto fail = [shared](caf::error err) { shared->fail(err); };
  auto start = [self, shared, fail]() {
    if (shared->single) {
      send_remote<entry>(
        self,
        [self, shared](entry& e) {
          self->state.count(state_errc::none);
          shared->entry_rp.deliver(std::move(e));
        },
        fail, get_atom_v, std::move(shared->keys.front()));
      return;
    }
    send_remote<batch_reply>(
      self,
      [self, shared](batch_reply& reply) {
        self->state.count(state_errc::none);
        shared->batch_rp.deliver(std::move(reply));
      },
      fail, batch_get_atom_v, batch_request{std::move(shared->keys)});
  };
  submit(self, std::move(start), std::move(fail));
}

/// Answers the reads of a coalesced batch from its reply: entries for the
/// first `reply.entries.size()` distinct keys, the rest unprocessed. A read
/// whose keys were all answered gets them; a client's batch answered in
/// part gets its answered first keys and the rest as unprocessed, as from
/// the store itself; a read with none of its keys answered is sent alone.
void answer_reads(peer_ptr self, std::vector<pending_read>& reads,
                  batch_reply& reply) {
  auto& st = self->state;
  auto answered = reply.entries.size();
  // How many of each read's first keys were answered: what it takes.
  std::vector<size_t> taken(reads.size(), 0);
  // An entry several reads take is copied for all but the last.
  std::vector<uint32_t> uses(answered, 0);
  for (size_t j = 0; j < reads.size(); ++j) {
    auto& slots = reads[j].slots;
    while (taken[j] < slots.size() && slots[taken[j]] < answered)
      ++uses[slots[taken[j]++]];
  }
  auto take = [&](uint32_t slot) {
    return --uses[slot] == 0 ? std::move(reply.entries[slot])
                             : reply.entries[slot];
  };
  for (size_t j = 0; j < reads.size(); ++j) {
    auto& r = reads[j];
    if (taken[j] == 0) {
      send_alone(self, std::move(r));
      continue;
    }
    if (r.single) {
      auto e = take(r.slots.front());
      st.count(e.found() ? state_errc::none : state_errc::not_found);
      if (e.found())
        r.entry_rp.deliver(std::move(e));
      else
        r.entry_rp.deliver(
          make_state_error(state_errc::not_found, "no value for key"));
      continue;
    }
    st.count(state_errc::none);
    batch_reply part;
    part.entries.reserve(taken[j]);
    for (size_t i = 0; i < taken[j]; ++i)
      part.entries.push_back(take(r.slots[i]));
    part.unprocessed.assign(std::make_move_iterator(r.keys.begin() + taken[j]),
                            std::make_move_iterator(r.keys.end()));
    r.batch_rp.deliver(std::move(part));
  }
}

/// The distinct keys of `reads`, in the order first asked, filling in each
/// read's slots.
std::vector<std::string> distinct_keys(std::vector<pending_read>& reads) {
  std::vector<std::string> keys;
  std::unordered_map<std::string_view, uint32_t> slot_of;
  for (auto& r : reads) {
    r.slots.clear();
    for (auto& k : r.keys) {
      auto [it, added] =
        slot_of.emplace(k, static_cast<uint32_t>(keys.size()));
      if (added)
        keys.push_back(k);
      r.slots.push_back(it->second);
    }
  }
  return keys;
}

void add_read(peer_ptr self, pending_read read);
void make_room(peer_ptr self, size_t count);

/// The key a member's refusal of a key it does not own names
/// (membership::misdirected: "'KEY' belongs to node ..."); empty for any
/// other error. A member guard refuses a batch_get so only when its first
/// key is not its own; it answers the keys before any other such key and
/// names the rest unprocessed (member_guard.cpp); a guard of an earlier
/// release refuses the batch for any such key, naming it. The text is the
/// one mark the refusal carries on the wire.
std::string refused_key(const caf::error& err) {
  if (code_of(err) != state_errc::backend_unavailable)
    return {};
  auto msg = message_of(err);
  auto end = msg.find("' belongs to node ");
  if (msg.empty() || msg.front() != '\'' || end == std::string::npos)
    return {};
  return msg.substr(1, end - 1);
}

/// A coalesced batch refused for one of its keys (during a membership
/// change): the reads that ask for that key get the refusal, the others are
/// coalesced again, instead of all failing with another key's owner named.
/// Each round fails at least one read, so it ends: the read of the first
/// key when the named key is none of the batch's (not a refusal we know).
void retry_without_key(peer_ptr self, std::vector<pending_read>& reads,
                       const std::string& key, const caf::error& err) {
  auto asks_for = [&](const pending_read& r) {
    return std::find(r.keys.begin(), r.keys.end(), key) != r.keys.end();
  };
  bool named = std::any_of(reads.begin(), reads.end(), asks_for);
  for (auto& r : reads) {
    if (named ? asks_for(r)
              : std::find(r.slots.begin(), r.slots.end(), 0u)
                  != r.slots.end()) {
      r.fail(err);
      continue;
    }
    make_room(self, r.keys.size());
    add_read(self, std::move(r));
  }
}

void flush_reads(peer_ptr self) {
  auto& st = self->state;
  st.flush_pending = false;
  if (st.reads.empty())
    return;
  auto reads = std::make_shared<std::vector<pending_read>>(std::move(st.reads));
  st.reads.clear();
  st.read_key_count = 0;
  auto keys = distinct_keys(*reads);
  auto fail_all = [reads](caf::error err) {
    for (auto& r : *reads)
      r.fail(err);
  };
  auto start = [self, reads, keys = std::move(keys), fail_all]() mutable {
    auto total = keys.size();
    send_remote<batch_reply>(
      self,
      [self, reads, total](batch_reply& reply) {
        auto& st = self->state;
        // Every key answered or named unprocessed, and the first answered:
        // anything else is not a store's answer.
        if (reply.entries.size() + reply.unprocessed.size() != total
            || reply.entries.empty()) {
          for (auto& r : *reads)
            r.fail(st.to_client_error(caf::sec::unexpected_response));
          return;
        }
        answer_reads(self, *reads, reply);
      },
      [self, reads, fail_all](caf::error err) {
        auto key = reads->size() > 1 ? refused_key(err) : std::string{};
        if (!key.empty())
          retry_without_key(self, *reads, key, err);
        else
          fail_all(std::move(err));
      },
      batch_get_atom_v, batch_request{std::move(keys)});
  };
  submit(self, std::move(start), fail_all);
}

/// Makes room for `count` more keys: the reads collected so far go first
/// when they would take the batch past max_coalesced (the remote store
/// refuses a batch_get of more than its http.max_batch_keys).
void make_room(peer_ptr self, size_t count) {
  auto& st = self->state;
  if (st.read_key_count > 0
      && st.read_key_count + count > st.settings.max_coalesced)
    flush_reads(self);
}

void add_read(peer_ptr self, pending_read read) {
  auto& st = self->state;
  st.read_key_count += read.keys.size();
  st.reads.push_back(std::move(read));
  if (st.read_key_count >= st.settings.max_coalesced) {
    flush_reads(self);
  } else if (!st.flush_pending) {
    st.flush_pending = true;
    self->send(self, peer_flush_atom_v);
  }
}

caf::result<entry> coalesce_get(peer_ptr self, std::string& key) {
  auto& st = self->state;
  // An invalid key would fail the whole batch: it goes alone, and gets the
  // store's own invalid_key answer.
  if (!st.remote || !is_valid_key(key))
    return forward<entry>(self, get_atom_v, std::move(key));
  make_room(self, 1);
  pending_read read;
  read.entry_rp = self->make_response_promise<entry>();
  auto rp = read.entry_rp;
  read.keys.push_back(std::move(key));
  add_read(self, std::move(read));
  return rp;
}

/// Whether a key appears twice in `keys`.
bool names_a_key_twice(const std::vector<std::string>& keys) {
  std::vector<std::string_view> sorted(keys.begin(), keys.end());
  std::sort(sorted.begin(), sorted.end());
  return std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end();
}

caf::result<batch_reply> coalesce_batch(peer_ptr self, batch_request& req) {
  auto& st = self->state;
  auto valid = std::all_of(req.keys.begin(), req.keys.end(),
                           [](const std::string& k) { return is_valid_key(k); });
  // A batch bigger than a coalesced one may be goes alone (the store
  // answers for its size), and so does one that skips unreadable values
  // (the others fail on them) or names a key twice (the store refuses it,
  // and only it).
  if (!st.remote || !valid || req.keys.empty()
      || req.keys.size() > st.settings.max_coalesced || req.skip_unreadable
      || names_a_key_twice(req.keys))
    return forward<batch_reply>(self, batch_get_atom_v, std::move(req));
  make_room(self, req.keys.size());
  pending_read read;
  read.single = false;
  read.keys = std::move(req.keys);
  read.batch_rp = self->make_response_promise<batch_reply>();
  auto rp = read.batch_rp;
  add_read(self, std::move(read));
  return rp;
}

void dial_later(peer_ptr self) {
  auto& st = self->state;
  st.backoff = st.backoff.count() == 0
                 ? st.settings.min_backoff
                 : std::min(st.backoff * 2, st.settings.max_backoff);
  self->delayed_send(self, st.backoff, peer_retry_atom_v);
}

/// A connection lost this soon after it came up is flapping: its ups and
/// downs are reported together at most every flap_report_interval, not one
/// line each (which repeated within a millisecond).
constexpr auto flap_window = std::chrono::seconds{5};
constexpr auto flap_report_interval = std::chrono::seconds{10};

void log_connected(peer_state& st, std::chrono::steady_clock::time_point now) {
  if (st.stats.connects == 0) {
    spdlog::info("node: connected to peer {}", st.settings.name);
  } else if (now - st.lost_at >= flap_window) {
    std::chrono::duration<double> down = now - st.lost_at;
    spdlog::info("node: connected to peer {} again after {:.1f} s",
                 st.settings.name, down.count());
  } else {
    spdlog::debug("node: reconnected to peer {}", st.settings.name);
  }
}

void log_lost(peer_state& st, const std::string& reason,
              std::chrono::steady_clock::time_point now) {
  if (now - st.connected_at >= flap_window) {
    spdlog::warn("node: lost peer {} ({}); reconnecting", st.settings.name,
                 reason);
    return;
  }
  ++st.flaps;
  if (now - st.flap_reported_at < flap_report_interval) {
    spdlog::debug("node: lost peer {} again ({})", st.settings.name, reason);
    return;
  }
  spdlog::warn("node: peer {} is flapping: lost {} time(s) within {} s of "
               "connecting since the last report (last: {}); reconnecting",
               st.settings.name, st.flaps, flap_window.count(), reason);
  st.flaps = 0;
  st.flap_reported_at = now;
}

void on_connected(peer_ptr self, state_actor remote) {
  auto& st = self->state;
  if (st.remote) // a stale dial finished after a newer one; keep the first
    return;
  auto now = std::chrono::steady_clock::now();
  log_connected(st, now);
  st.connected_at = now;
  st.remote = std::move(remote);
  st.backoff = std::chrono::milliseconds{0};
  st.failing = false;
  ++st.stats.connects;
  st.stats.up = true;
  self->monitor(st.remote);
}

/// Tells the clients of the calls still waiting on a lost connection that
/// no answer will come. Their late replies (or CAF's timeout) free no slot
/// (release() sees the old generation) and reach no client (settled).
void fail_lost_calls(peer_ptr self) {
  auto& st = self->state;
  // Taken first: a client's error path may queue or send anew (a
  // coalesced read retried), which adds calls of the next connection.
  auto lost = std::move(st.calls);
  st.calls.clear();
  for (auto& [seq, call] : lost) {
    call->settled = true;
    // The request may have reached the remote and been applied there: a
    // write's outcome is unknown, as after a timeout.
    call->on_timeout(st.unavailable(
      "connection lost before it answered; the request may or may not have "
      "been applied"));
  }
}

void on_lost(peer_ptr self, const caf::error& reason) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  log_lost(st, self->system().render(reason), now);
  st.lost_at = now;
  st.remote = nullptr;
  st.stats.up = false;
  // The lost connection's requests will never be answered: their slots
  // are free for the next one, and their clients hear now. They waited
  // out node.request_timeout before (an HTTP client its whole
  // http.request_timeout) for an answer that could no longer come. Found
  // by review. Queued requests fail now too.
  ++st.generation;
  st.in_flight = 0;
  st.abandoned = 0;
  fail_lost_calls(self);
  drain(self);
  self->send(st.connector, peer_dial_atom_v);
}

peer_actor::behavior_type peer(peer_ptr self, peer_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.stats.peer = st.settings.name;
  st.stats.results.resize(result_code_count);
  st.connector = spawn_connector(self->system(),
                                 caf::actor_cast<peer_actor>(self),
                                 st.settings);
  self->link_to(st.connector);
  self->set_down_handler([self](caf::down_msg& msg) {
    if (self->state.remote && msg.source == self->state.remote.address())
      on_lost(self, msg.reason);
  });
  if (st.settings.dial_at_start)
    self->send(st.connector, peer_dial_atom_v);
  return {
    // -- connection ---------------------------------------------------------------
    [self](peer_up_atom, state_actor& remote) {
      on_connected(self, std::move(remote));
    },
    [self](peer_failed_atom, std::string& why) {
      auto& st = self->state;
      if (!st.failing)
        spdlog::warn("node: cannot reach peer {}: {}; retrying with backoff",
                     st.settings.name, why);
      st.failing = true;
      dial_later(self);
    },
    [self](peer_retry_atom) {
      if (!self->state.remote)
        self->send(self->state.connector, peer_dial_atom_v);
    },
    [self](peer_stats_atom) {
      auto& st = self->state;
      st.stats.in_flight = st.in_flight;
      st.stats.queued = st.queue.size();
      return st.stats;
    },
    // -- key-value ------------------------------------------------------------------
    [self](get_atom, std::string& key) { return coalesce_get(self, key); },
    // The peer's tick to itself: coalesced reads to send, and requests
    // past their deadline (arm_expiry).
    [self](peer_flush_atom) {
      flush_reads(self);
      expire_calls(self);
    },
    [self](put_atom, set_request& req) {
      return forward<write_result>(self, put_atom_v, std::move(req));
    },
    [self](delete_atom, delete_request& req) {
      return forward<bool>(self, delete_atom_v, std::move(req));
    },
    [self](list_atom, list_request& req) {
      return forward<key_page>(self, list_atom_v, std::move(req));
    },
    [self](query_atom, query_request& req) {
      return forward<query_page>(self, query_atom_v, std::move(req));
    },
    [self](batch_get_atom, batch_request& req) {
      return coalesce_batch(self, req);
    },
    [self](transact_atom, transaction_request& req) {
      return forward<transaction_reply>(self, transact_atom_v, std::move(req));
    },
    [self](watch_atom, watch_request& req, watcher_actor& watcher) {
      return forward<watch_started>(self, watch_atom_v, std::move(req),
                                    std::move(watcher));
    },
    [self](delete_atom, delete_prefix_request& req) {
      return forward<delete_prefix_result>(self, delete_atom_v,
                                           std::move(req));
    },
    // -- typed records -----------------------------------------------------------------
    [self](put_atom, order& x) {
      return forward<version_t>(self, put_atom_v, std::move(x));
    },
    [self](get_atom, order_ref& x) {
      return forward<order>(self, get_atom_v, std::move(x));
    },
    [self](delete_atom, order_ref& x) {
      return forward<bool>(self, delete_atom_v, std::move(x));
    },
    [self](list_atom, orders_of& q) {
      return forward<id_list>(self, list_atom_v, std::move(q));
    },
    [self](put_atom, fill& x) {
      return forward<version_t>(self, put_atom_v, std::move(x));
    },
    [self](get_atom, fill_ref& x) {
      return forward<fill>(self, get_atom_v, std::move(x));
    },
    [self](list_atom, fills_of& q) {
      return forward<id_list>(self, list_atom_v, std::move(q));
    },
    [self](put_atom, settlement& x) {
      return forward<version_t>(self, put_atom_v, std::move(x));
    },
    [self](get_atom, settlement_ref& x) {
      return forward<settlement>(self, get_atom_v, std::move(x));
    },
    [self](list_atom, settlements_of& q) {
      return forward<id_list>(self, list_atom_v, std::move(q));
    },
    [self](put_atom, component_state& x) {
      return forward<version_t>(self, put_atom_v, std::move(x));
    },
    [self](get_atom, component_key& x) {
      return forward<component_state>(self, get_atom_v, std::move(x));
    },
    // -- operations --------------------------------------------------------------------
    [self](health_atom) {
      return forward<health_report>(self, health_atom_v);
    },
    // -- handoff ------------------------------------------------------------------------
    [self](handoff_scan_atom, handoff_scan_request& req) {
      return forward<handoff_scan_page>(self, handoff_scan_atom_v,
                                        std::move(req));
    },
    [self](handoff_fetch_atom, handoff_keys& req) {
      return forward<batch_reply>(self, handoff_fetch_atom_v, std::move(req));
    },
    [self](handoff_drop_atom, handoff_keys& req) {
      return forward<uint64_t>(self, handoff_drop_atom_v, std::move(req));
    },
  };
}

} // namespace

peer_actor spawn_peer(caf::actor_system& sys, peer_settings settings) {
  return sys.spawn(peer, std::move(settings));
}

} // namespace solver_state
