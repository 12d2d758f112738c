// The PEER actor (actors/cluster/peer.hpp): this node's stand-in for a remote
// store node, on CAF's deterministic test coordinator. The remote is a fake
// router in this process that holds every request until the test answers
// it, handed to the peer with peer_up as its connector would.
//
// The peer's connector is a detached actor: its thread runs outside the test
// coordinator, and a message it sent to the peer mid-test would race the
// test thread on the coordinator's job queue. So the fixture keeps it
// quiet: its dial goes to a local socket that accepts the connection and
// never answers the handshake, and only after the peer is gone is the socket
// closed. The connector's real dial loop (refused, retried, connected) is
// tested on the real scheduler at the end, with bounded waits.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/cluster/peer.hpp"
#include "actors/cluster/transport.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"
#include "messages/protocol.hpp"
#include "tests/support/captured_log.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

namespace {

// -- a remote that never finishes the handshake ----------------------------------

/// A loopback listener that accepts connections and never sends a byte.
struct silent_listener {
  int fd = -1;
  uint16_t port = 0;
  std::vector<int> accepted;

  silent_listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
        || ::listen(fd, 16) != 0)
      return;
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }

  /// Accepts one connection if one arrives within `timeout`.
  bool accept_within(std::chrono::milliseconds timeout) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1)
      return false;
    int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0)
      return false;
    accepted.push_back(c);
    return true;
  }

  void close_all() {
    for (int c : accepted)
      ::close(c);
    accepted.clear();
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }

  ~silent_listener() { close_all(); }
};

// -- the fake remote router ---------------------------------------------------------

using answer_atom = caf::atom_constant<caf::atom("answer")>;
using fail_atom = caf::atom_constant<caf::atom("fail")>;
using short_atom = caf::atom_constant<caf::atom("short")>;
using partial_atom = caf::atom_constant<caf::atom("partial")>;

/// The value the fake serves for `key`; keys starting with "missing" have
/// none.
bool missing(const std::string& key) {
  return key.rfind("missing", 0) == 0;
}

/// Keys starting with "moved" belong to another member: the fake refuses
/// them as a member guard does (membership::misdirected). Those starting
/// with "oldmoved" too, as a guard of an earlier release did: its
/// batch_get refused the whole batch for any of them, naming it.
bool moved(const std::string& key) {
  return key.rfind("moved", 0) == 0 || key.rfind("oldmoved", 0) == 0;
}

bool old_moved(const std::string& key) {
  return key.rfind("oldmoved", 0) == 0;
}

caf::error refusal_of(const std::string& key) {
  return make_state_error(state_errc::backend_unavailable,
                          "'" + key
                            + "' belongs to node remote-b:7000, not to "
                              "remote-a:7000: the sender's member list "
                              "differs from this node's");
}

entry entry_for(const std::string& key) {
  return missing(key) ? entry{} : entry{"value of " + key, 7, 0};
}

/// One request the fake received.
struct held_request {
  std::string what; // "get k", "put k", "batch a,b", ...
  caf::response_promise rp;
  std::function<void(caf::response_promise&)> answer; // the normal answer
  size_t batch_size = 0;
  std::vector<std::string> keys; // of a batch
};

struct fake_state {
  /// Every request received, in order.
  std::vector<held_request> received;
  /// Answer at once instead of holding.
  bool hold = true;
  static inline const char* name = "fake-remote-router";

  std::vector<std::string> whats() const {
    std::vector<std::string> out;
    for (auto& r : received)
      out.push_back(r.what);
    return out;
  }
};

using fake_ptr = caf::stateful_actor<fake_state>*;

caf::response_promise hold(fake_ptr self, std::string what,
                           std::function<void(caf::response_promise&)> answer,
                           size_t batch_size = 0,
                           std::vector<std::string> keys = {}) {
  auto rp = self->make_response_promise();
  held_request r{std::move(what), rp, std::move(answer), batch_size,
                 std::move(keys)};
  if (!self->state.hold)
    r.answer(r.rp);
  self->state.received.push_back(std::move(r));
  return rp;
}

std::string joined(const std::vector<std::string>& keys) {
  std::string out;
  for (auto& k : keys)
    out += (out.empty() ? "" : ",") + k;
  return out;
}

caf::behavior fake_remote(fake_ptr self, bool hold_requests) {
  self->state.hold = hold_requests;
  return {
    [self](get_atom, std::string& key) {
      return hold(self, "get " + key, [key](caf::response_promise& rp) {
        if (!is_valid_key(key))
          rp.deliver(make_state_error(state_errc::invalid_key, "bad key"));
        else if (moved(key))
          rp.deliver(refusal_of(key));
        else if (missing(key))
          rp.deliver(make_state_error(state_errc::not_found, "no value"));
        else
          rp.deliver(entry_for(key));
      });
    },
    [self](put_atom, set_request& req) {
      auto key = req.key;
      return hold(self, "put " + key, [key](caf::response_promise& rp) {
        if (key.rfind("conflict", 0) == 0)
          rp.deliver(make_state_error(state_errc::version_mismatch,
                                      "stale version of " + key));
        else
          rp.deliver(write_result{42, true});
      });
    },
    [self](delete_atom, delete_request& req) {
      return hold(self, "delete " + req.key,
                  [](caf::response_promise& rp) { rp.deliver(true); });
    },
    [self](list_atom, list_request& req) {
      auto prefix = req.prefix;
      return hold(self, "list " + prefix, [prefix](caf::response_promise& rp) {
        rp.deliver(key_page{{prefix + "a", prefix + "b"}, true});
      });
    },
    [self](batch_get_atom, batch_request& req) {
      auto keys = req.keys;
      auto skip = req.skip_unreadable;
      // Skipping unreadable values, keys under "bad:" are unreadable.
      return hold(
        self, (skip ? "batch skipping " : "batch ") + joined(keys),
        [keys, skip](caf::response_promise& rp) {
          // As the store: a batch that names a key twice is refused.
          auto sorted = keys;
          std::sort(sorted.begin(), sorted.end());
          if (std::adjacent_find(sorted.begin(), sorted.end())
              != sorted.end()) {
            rp.deliver(make_state_error(state_errc::bad_request,
                                        "a key is named twice in one batch"));
            return;
          }
          // As a member guard: refused for a first key it does not own,
          // else answered up to the first such key, the rest unprocessed.
          if (!keys.empty() && moved(keys.front())) {
            rp.deliver(refusal_of(keys.front()));
            return;
          }
          for (auto& k : keys)
            if (old_moved(k)) {
              rp.deliver(refusal_of(k));
              return;
            }
          batch_reply reply;
          for (auto& k : keys) {
            if (!reply.unprocessed.empty() || moved(k)) {
              reply.unprocessed.push_back(k);
              continue;
            }
            if (skip && k.rfind("bad:", 0) == 0) {
              reply.entries.emplace_back();
              reply.unreadable.push_back({k, "damaged"});
            } else {
              reply.entries.push_back(entry_for(k));
            }
          }
          rp.deliver(std::move(reply));
        },
        keys.size(), keys);
    },
    [self](health_atom) {
      return hold(self, "health", [](caf::response_promise& rp) {
        rp.deliver(health_report{3, 4});
      });
    },
    // -- control, from the test ------------------------------------------------------
    // (An index the fake never received is a test's mistake: ignored, so
    // the fake lives on and the test's checks report it.)
    [self](answer_atom, size_t i) {
      if (i >= self->state.received.size())
        return;
      auto& r = self->state.received[i];
      r.answer(r.rp);
    },
    [self](fail_atom, size_t i, caf::error& err) {
      if (i >= self->state.received.size())
        return;
      auto& r = self->state.received[i];
      r.rp.deliver(std::move(err));
    },
    [self](partial_atom, size_t i, size_t n) {
      // A batch_reply answering the first n keys, the rest unprocessed (as
      // a store whose reply would pass max_reply_bytes).
      if (i >= self->state.received.size())
        return;
      auto& r = self->state.received[i];
      batch_reply reply;
      for (size_t k = 0; k < r.keys.size(); ++k)
        if (k < n)
          reply.entries.push_back(entry_for(r.keys[k]));
        else
          reply.unprocessed.push_back(r.keys[k]);
      r.rp.deliver(std::move(reply));
    },
    [self](short_atom, size_t i) {
      // A batch_reply one entry short of the request.
      if (i >= self->state.received.size())
        return;
      auto& r = self->state.received[i];
      batch_reply reply;
      reply.entries.resize(r.batch_size - 1);
      r.rp.deliver(std::move(reply));
    },
  };
}

// -- clients ------------------------------------------------------------------------

/// What one client request got back.
template <class Reply>
struct answer_slot {
  bool done = false;
  std::optional<Reply> value;
  caf::error error;

  state_errc code() const { return value ? state_errc::none : code_of(error); }
  std::string message() const { return message_of(error); }
};

peer_settings test_settings() {
  peer_settings s;
  s.name = "remote-a:7000";
  // Long enough that no queued request outlives its (wall clock) deadline
  // while a test runs; tests that want a timeout advance the actor clock.
  s.request_timeout = 60s;
  s.late_reply_wait = 600s;
  s.window = 4;
  s.max_queued = 8;
  s.max_coalesced = 1024;
  s.min_backoff = 100ms;
  s.max_backoff = 500ms;
  return s;
}

struct peer_fixture {
  silent_listener remote_port;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  peer_actor peer;
  std::vector<caf::actor> fakes;
  std::vector<std::function<bool()>> clients_done;

  /// Tears the actors down in the one safe order, also when the
  /// constructor fails half-way (declared last: destroyed first).
  struct teardown {
    peer_fixture* f;
    ~teardown() { f->shutdown(); }
  } guard{this};

  explicit peer_fixture(peer_settings s = test_settings()) {
    REQUIRE(remote_port.port != 0);
    register_message_types(cfg);
    cfg.load<caf::io::middleman>();
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("middleman.workers", size_t{0});
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    s.host = "127.0.0.1";
    s.port = remote_port.port;
    peer = spawn_peer(*sys, std::move(s));
    sched->run(); // the peer starts, spawns its connector, asks it to dial
    // The dial reached the listener and now waits for a handshake that
    // never comes: the connector stays silent until shutdown().
    REQUIRE(remote_port.accept_within(10s));
    std::this_thread::sleep_for(20ms);
    sched->run();
    REQUIRE_FALSE(sched->has_pending_timeout()); // no failure came back
  }

  void shutdown() {
    if (!sys)
      return;
    // Every client gets an answer (their requests time out at the latest).
    for (int i = 0; i < 3 && !all_clients_done(); ++i) {
      sched->advance_time(2h);
      sched->run();
    }
    for (auto& f : fakes)
      caf::anon_send_exit(f, caf::exit_reason::kill);
    if (peer)
      caf::anon_send_exit(peer, caf::exit_reason::kill);
    sched->run();
    fakes.clear();
    peer = nullptr;
    // Only now the connector's dial fails: what it sends goes to the dead
    // peer, and the link's exit message ends it.
    remote_port.close_all();
    sys.reset();
  }

  bool all_clients_done() const {
    for (auto& done : clients_done)
      if (!done())
        return false;
    return true;
  }

  /// Sends `xs...` to the peer from a new client actor (on the test
  /// coordinator); the slot fills in when the answer arrives.
  template <class Reply, class... Ts>
  std::shared_ptr<answer_slot<Reply>> ask(Ts... xs) {
    auto slot = std::make_shared<answer_slot<Reply>>();
    auto dest = peer;
    sys->spawn([slot, dest, xs...](caf::event_based_actor* self) mutable {
      self->request(dest, std::chrono::seconds{3600}, std::move(xs)...)
        .then(
          [slot](Reply& r) {
            slot->value = std::move(r);
            slot->done = true;
          },
          [slot](caf::error& err) {
            slot->error = std::move(err);
            slot->done = true;
          });
    });
    clients_done.push_back([slot] { return slot->done; });
    return slot;
  }

  auto get(std::string key) { return ask<entry>(get_atom_v, std::move(key)); }

  auto put(std::string key) {
    return ask<write_result>(put_atom_v,
                             set_request{std::move(key), "v", 0,
                                         condition::always()});
  }

  auto batch(std::vector<std::string> keys, bool skip_unreadable = false) {
    return ask<batch_reply>(batch_get_atom_v,
                            batch_request{std::move(keys), skip_unreadable});
  }

  peer_stats stats() {
    auto s = ask<peer_stats>(peer_stats_atom_v);
    sched->run();
    REQUIRE(s->done);
    REQUIRE(s->value);
    return *s->value;
  }

  /// A new fake remote router (not yet connected).
  caf::actor spawn_fake() {
    auto fake = sys->spawn(fake_remote, true);
    fakes.push_back(fake);
    sched->run();
    return fake;
  }

  /// What the connector sends once it reached the peer.
  void connect(const caf::actor& fake) {
    caf::anon_send(peer, peer_up_atom_v, caf::actor_cast<state_actor>(fake));
    sched->run();
  }

  caf::actor connected_fake() {
    auto fake = spawn_fake();
    connect(fake);
    return fake;
  }

  static fake_state& state_of(const caf::actor& fake) {
    auto ptr = caf::actor_cast<caf::abstract_actor*>(fake);
    return dynamic_cast<caf::stateful_actor<fake_state>&>(*ptr).state;
  }

  /// The fake answers request `i` as a store would.
  void answer(const caf::actor& fake, size_t i) {
    caf::anon_send(fake, answer_atom::value, i);
    sched->run();
  }
};

uint64_t result_count(const peer_stats& s, state_errc code) {
  return s.results.at(static_cast<size_t>(code));
}

} // namespace

TEST_CASE("before the connection is up every request fails at once with "
          "backend_unavailable naming the peer") {
  peer_fixture f;
  auto g = f.get("order:x:1");
  auto p = f.put("order:x:1");
  auto b = f.batch({"a", "b"});
  auto h = f.ask<health_report>(health_atom_v);
  f.sched->run();
  for (auto [done, code, msg] :
       {std::tuple{g->done, g->code(), g->message()},
        std::tuple{p->done, p->code(), p->message()},
        std::tuple{b->done, b->code(), b->message()},
        std::tuple{h->done, h->code(), h->message()}}) {
    CHECK(done);
    CHECK(code == state_errc::backend_unavailable);
    CHECK_THAT(msg, Catch::Contains("peer remote-a:7000")
                      && Catch::Contains("not connected"));
  }
  auto s = f.stats();
  CHECK(s.peer == "remote-a:7000");
  CHECK_FALSE(s.up);
  CHECK(s.connects == 0);
  CHECK(s.in_flight == 0);
  CHECK(s.queued == 0);
  CHECK(result_count(s, state_errc::backend_unavailable) == 4);
}

TEST_CASE("a connected peer forwards every request to the remote router and "
          "relays its answers and errors") {
  peer_fixture f;
  auto fake = f.connected_fake();
  f.state_of(fake).hold = false; // answer at once
  auto s = f.stats();
  CHECK(s.up);
  CHECK(s.connects == 1);
  auto put = f.put("order:x:1");
  f.sched->run();
  auto del = f.ask<bool>(delete_atom_v,
                         delete_request{"order:x:1", condition::always()});
  f.sched->run();
  auto list = f.ask<key_page>(list_atom_v, list_request{"order:", "", 10});
  f.sched->run();
  auto health = f.ask<health_report>(health_atom_v);
  f.sched->run();
  auto conflict = f.put("conflict:1");
  f.sched->run();
  REQUIRE(put->value);
  CHECK(put->value->version == 42);
  REQUIRE(del->value);
  CHECK(*del->value);
  REQUIRE(list->value);
  CHECK(list->value->keys == std::vector<std::string>{"order:a", "order:b"});
  CHECK(list->value->more);
  REQUIRE(health->value);
  CHECK(health->value->quarantined_values == 3);
  CHECK(health->value->undecryptable_values == 4);
  // The store's own errors pass through unchanged.
  CHECK(conflict->code() == state_errc::version_mismatch);
  CHECK(conflict->message() == "stale version of conflict:1");
  CHECK(f.state_of(fake).whats()
        == std::vector<std::string>{"put order:x:1", "delete order:x:1",
                                    "list order:", "health",
                                    "put conflict:1"});
  s = f.stats();
  CHECK(result_count(s, state_errc::none) == 4);
  CHECK(result_count(s, state_errc::version_mismatch) == 1);
  CHECK(s.in_flight == 0);
}

TEST_CASE("at most `window` requests are in flight, `max_queued` more wait "
          "in order, beyond that backend_unavailable") {
  auto settings = test_settings();
  settings.window = 2;
  settings.max_queued = 3;
  peer_fixture f{settings};
  auto fake = f.connected_fake();
  std::vector<std::shared_ptr<answer_slot<write_result>>> puts;
  for (int i = 0; i < 6; ++i)
    puts.push_back(f.put("p" + std::to_string(i)));
  f.sched->run();
  auto& fs = f.state_of(fake);
  CHECK(fs.whats() == std::vector<std::string>{"put p0", "put p1"});
  // The sixth found the queue full: refused at once, never sent.
  REQUIRE(puts[5]->done);
  CHECK(puts[5]->code() == state_errc::backend_unavailable);
  CHECK_THAT(puts[5]->message(), Catch::Contains("peer remote-a:7000")
                                   && Catch::Contains("overloaded")
                                   && Catch::Contains("3 requests queued"));
  for (int i = 0; i < 5; ++i)
    CHECK_FALSE(puts[i]->done);
  auto s = f.stats();
  CHECK(s.in_flight == 2);
  CHECK(s.queued == 3);
  // Each answer frees a slot for the oldest queued request.
  f.answer(fake, 0);
  REQUIRE(puts[0]->value);
  CHECK(puts[0]->value->version == 42);
  CHECK(fs.whats()
        == std::vector<std::string>{"put p0", "put p1", "put p2"});
  s = f.stats();
  CHECK(s.in_flight == 2);
  CHECK(s.queued == 2);
  // With room in the queue again, a new request waits instead of failing.
  auto late = f.put("p6");
  f.sched->run();
  CHECK_FALSE(late->done);
  CHECK(f.stats().queued == 3);
  for (size_t i = 1; i < 6; ++i)
    f.answer(fake, i);
  CHECK(fs.whats()
        == std::vector<std::string>{"put p0", "put p1", "put p2", "put p3",
                                    "put p4", "put p6"});
  for (int i = 0; i < 5; ++i) {
    REQUIRE(puts[i]->value);
    CHECK(puts[i]->value->version == 42);
  }
  REQUIRE(late->value);
  s = f.stats();
  CHECK(s.in_flight == 0);
  CHECK(s.queued == 0);
  CHECK(result_count(s, state_errc::none) == 6);
  CHECK(result_count(s, state_errc::backend_unavailable) == 1);
  // An empty queue and a free window: straight through.
  auto direct = f.put("p7");
  f.sched->run();
  CHECK(fs.received.size() == 7);
  CHECK(f.stats().in_flight == 1);
}

TEST_CASE("a request the remote never answers times out as "
          "backend_unavailable but keeps its slot until the late answer "
          "comes, which is not relayed") {
  // Freeing the slot at the timeout let a stalled peer (heartbeats
  // answered, store frozen) take a window's worth of requests per
  // request_timeout, all still on the wire or in its mailbox. Found by
  // review.
  auto settings = test_settings();
  settings.window = 1;
  peer_fixture f{settings};
  auto fake = f.connected_fake();
  auto first = f.put("slow");
  auto second = f.put("next");
  f.sched->run();
  auto& fs = f.state_of(fake);
  CHECK(fs.whats() == std::vector<std::string>{"put slow"});
  f.sched->advance_time(59s);
  f.sched->run();
  CHECK_FALSE(first->done);
  f.sched->advance_time(1s);
  f.sched->run();
  REQUIRE(first->done);
  CHECK(first->code() == state_errc::backend_unavailable);
  CHECK_THAT(first->message(), Catch::Contains("peer remote-a:7000")
                                 && Catch::Contains("no answer within 60000ms"));
  // The slot is still the first request's: nothing more goes out.
  CHECK(fs.whats() == std::vector<std::string>{"put slow"});
  auto s = f.stats();
  CHECK(s.in_flight == 1);
  CHECK(s.queued == 1);
  // The remote answers the first one after all: nobody listens any more,
  // and its slot goes to the queued request.
  f.answer(fake, 0);
  CHECK(first->code() == state_errc::backend_unavailable);
  CHECK(fs.whats() == std::vector<std::string>{"put slow", "put next"});
  s = f.stats();
  CHECK(s.in_flight == 1);
  CHECK(s.queued == 0);
  CHECK(result_count(s, state_errc::none) == 0);
  f.answer(fake, 1);
  REQUIRE(second->value);
  CHECK(second->value->version == 42);
  s = f.stats();
  CHECK(s.in_flight == 0);
  CHECK(result_count(s, state_errc::none) == 1);
  CHECK(result_count(s, state_errc::backend_unavailable) == 1);
}

TEST_CASE("requests sent less than a millisecond apart each time out") {
  // The timer for the next deadline, a fraction of a millisecond away, was
  // once rounded down to zero: it fired before that deadline and was never
  // armed again, so no later request timed out.
  peer_fixture f;
  auto fake = f.connected_fake();
  auto first = f.put("first");
  f.sched->run();
  f.sched->advance_time(500us);
  auto second = f.put("second");
  f.sched->run();
  f.answer(fake, 0);
  REQUIRE(first->value);
  f.sched->advance_time(60s - 500us);
  f.sched->run();
  // A real clock fires a timer that is due at once: so does this one.
  f.sched->advance_time(caf::timespan{0});
  f.sched->run();
  CHECK_FALSE(second->done);
  f.sched->advance_time(500us);
  f.sched->run();
  f.sched->advance_time(1ms);
  f.sched->run();
  REQUIRE(second->done);
  CHECK(second->code() == state_errc::backend_unavailable);
  CHECK_THAT(second->message(), Catch::Contains("no answer within"));
}

TEST_CASE("a peer with max_abandoned unanswered requests fails new ones at "
          "once without sending them, until it answers again") {
  auto settings = test_settings();
  settings.window = 4;
  settings.max_abandoned = 2;
  peer_fixture f{settings};
  auto fake = f.connected_fake();
  auto& fs = f.state_of(fake);
  std::vector<std::shared_ptr<answer_slot<write_result>>> puts;
  for (int i = 0; i < 5; ++i)
    puts.push_back(f.put("p" + std::to_string(i)));
  f.sched->run();
  CHECK(fs.received.size() == 4);
  CHECK(f.stats().queued == 1);
  f.sched->advance_time(60s);
  f.sched->run();
  // The four sent timed out; the queued one fails at once instead of
  // waiting for a slot.
  for (auto& p : puts) {
    REQUIRE(p->done);
    CHECK(p->code() == state_errc::backend_unavailable);
  }
  CHECK_THAT(puts[4]->message(), Catch::Contains("not answering")
                                   && Catch::Contains("4 requests "
                                                      "unanswered"));
  auto refused = f.put("refused");
  f.sched->run();
  REQUIRE(refused->done);
  CHECK(refused->code() == state_errc::backend_unavailable);
  CHECK_THAT(refused->message(), Catch::Contains("not answering"));
  CHECK(fs.received.size() == 4);
  auto s = f.stats();
  CHECK(s.in_flight == 4);
  CHECK(s.queued == 0);
  // Three late answers: one unanswered request is left, below the cap.
  for (size_t i = 0; i < 3; ++i)
    f.answer(fake, i);
  CHECK(f.stats().in_flight == 1);
  auto sent = f.put("sent");
  f.sched->run();
  CHECK(fs.received.size() == 5);
  f.answer(fake, 4);
  REQUIRE(sent->value);
  // A lost connection forgets its unanswered requests: the next one starts
  // with a free window.
  caf::anon_send_exit(fake, caf::exit_reason::kill);
  f.sched->run();
  auto fresh = f.connected_fake();
  s = f.stats();
  CHECK(s.in_flight == 0);
  auto again = f.put("again");
  f.sched->run();
  CHECK(f.state_of(fresh).whats() == std::vector<std::string>{"put again"});
  f.answer(fresh, 0);
  REQUIRE(again->value);
}

TEST_CASE("a request that waited in the queue past its deadline is refused "
          "instead of sent") {
  auto settings = test_settings();
  settings.window = 1;
  settings.request_timeout = 100ms;
  peer_fixture f{settings};
  auto fake = f.connected_fake();
  auto first = f.put("first");
  auto waiting = f.put("waiting");
  f.sched->run();
  // The queue's deadline is wall-clock time (the actor clock only bounds
  // requests in flight, and it stands still here).
  std::this_thread::sleep_for(150ms);
  f.answer(fake, 0);
  REQUIRE(first->value);
  REQUIRE(waiting->done);
  CHECK(waiting->code() == state_errc::backend_unavailable);
  CHECK_THAT(waiting->message(),
             Catch::Contains("overloaded: no free slot within 100ms"));
  CHECK(f.state_of(fake).whats() == std::vector<std::string>{"put first"});
  CHECK(f.stats().in_flight == 0);
}

TEST_CASE("reads that arrive together travel as one batch_get, and each "
          "client gets its own part of the answer") {
  peer_fixture f;
  auto fake = f.connected_fake();
  auto& fs = f.state_of(fake);
  auto k1 = f.get("k1");
  auto k2 = f.get("k2");
  auto both = f.batch({"b1", "missing:b2"});
  auto absent = f.get("missing:k3");
  auto invalid = f.get(""); // would fail the whole batch: sent alone
  auto write = f.put("w");  // writes are never coalesced
  auto k4 = f.get("k4");
  f.sched->run();
  CHECK(fs.whats()
        == std::vector<std::string>{"get ", "put w",
                                    "batch k1,k2,b1,missing:b2,missing:k3,k4"});
  CHECK(f.stats().in_flight == 3);
  for (size_t i = 0; i < 3; ++i)
    f.answer(fake, i);
  REQUIRE(k1->value);
  CHECK(k1->value->value == "value of k1");
  CHECK(k1->value->version == 7);
  REQUIRE(k2->value);
  CHECK(k2->value->value == "value of k2");
  REQUIRE(k4->value);
  CHECK(k4->value->value == "value of k4");
  REQUIRE(both->value);
  REQUIRE(both->value->entries.size() == 2);
  CHECK(both->value->entries[0].value == "value of b1");
  CHECK_FALSE(both->value->entries[1].found());
  // A single get of an absent key is not_found, as from the store itself.
  REQUIRE(absent->done);
  CHECK(absent->code() == state_errc::not_found);
  CHECK(invalid->code() == state_errc::invalid_key);
  REQUIRE(write->value);
  auto s = f.stats();
  CHECK(result_count(s, state_errc::none) == 5);
  CHECK(result_count(s, state_errc::not_found) == 1);
  CHECK(result_count(s, state_errc::invalid_key) == 1);
  CHECK(s.in_flight == 0);
}

TEST_CASE("reads of one key that arrive together ask for it once, and each "
          "gets the value") {
  // The remote refuses a batch that names a key twice: every read in it,
  // other clients' included, failed with 400.
  peer_fixture f;
  auto fake = f.connected_fake();
  auto& fs = f.state_of(fake);
  auto first = f.get("k1");
  auto second = f.get("k1");
  auto both = f.batch({"k2", "k1"});
  auto absent = f.get("missing:m");
  auto absent_again = f.batch({"missing:m"});
  f.sched->run();
  CHECK(fs.whats() == std::vector<std::string>{"batch k1,k2,missing:m"});
  f.answer(fake, 0);
  for (auto& k : {first, second}) {
    REQUIRE(k->value);
    CHECK(k->value->value == "value of k1");
  }
  REQUIRE(both->value);
  REQUIRE(both->value->entries.size() == 2);
  CHECK(both->value->entries[0].value == "value of k2");
  CHECK(both->value->entries[1].value == "value of k1");
  CHECK(absent->code() == state_errc::not_found);
  REQUIRE(absent_again->value);
  CHECK_FALSE(absent_again->value->entries.at(0).found());
  // A client's batch that names a key twice goes alone: the store answers
  // it as it would without a peer between.
  auto twice = f.batch({"a", "a"});
  f.sched->run();
  CHECK(fs.whats().back() == "batch a,a");
  f.answer(fake, 1);
  CHECK(twice->code() == state_errc::bad_request);
}

TEST_CASE("a coalesced batch answered in part: each read gets what was "
          "answered, a client's batch the rest as unprocessed, and a read "
          "with nothing answered is sent again alone") {
  // Values past the remote's max_reply_bytes come back unprocessed: the
  // peer once failed every read of the batch with a 500.
  peer_fixture f;
  auto fake = f.connected_fake();
  auto& fs = f.state_of(fake);
  auto k1 = f.get("k1");
  auto split = f.batch({"b1", "b2", "b3"});
  auto k4 = f.get("k4");
  auto late = f.batch({"c1", "c2"});
  f.sched->run();
  REQUIRE(fs.whats() == std::vector<std::string>{"batch k1,b1,b2,b3,k4,c1,c2"});
  caf::anon_send(fake, partial_atom::value, size_t{0}, size_t{2});
  f.sched->run();
  REQUIRE(k1->value);
  CHECK(k1->value->value == "value of k1");
  REQUIRE(split->value);
  REQUIRE(split->value->entries.size() == 1);
  CHECK(split->value->entries[0].value == "value of b1");
  CHECK(split->value->unprocessed == std::vector<std::string>{"b2", "b3"});
  // k4 and the late batch had no key answered: each goes again alone.
  CHECK_FALSE(k4->done);
  CHECK_FALSE(late->done);
  CHECK(fs.whats()
        == std::vector<std::string>{"batch k1,b1,b2,b3,k4,c1,c2", "get k4",
                                    "batch c1,c2"});
  f.answer(fake, 1);
  caf::anon_send(fake, partial_atom::value, size_t{2}, size_t{1});
  f.sched->run();
  REQUIRE(k4->value);
  CHECK(k4->value->value == "value of k4");
  REQUIRE(late->value);
  REQUIRE(late->value->entries.size() == 1);
  CHECK(late->value->unprocessed == std::vector<std::string>{"c2"});
  CHECK(f.stats().in_flight == 0);
}

TEST_CASE("a key that moved to another member fails only the reads that "
          "ask for it and not the other reads of its coalesced batch") {
  // During a rolling change one moved key failed every read of its batch,
  // naming another key's owner. Found by review.
  peer_fixture f;
  auto fake = f.connected_fake();
  auto& fs = f.state_of(fake);
  // The moved key first: the remote refuses the batch; the other reads go
  // again, coalesced.
  auto m1 = f.get("moved:1");
  auto k1 = f.get("k1");
  auto b23 = f.batch({"k2", "k3"});
  f.sched->run();
  CHECK(fs.whats() == std::vector<std::string>{"batch moved:1,k1,k2,k3"});
  f.answer(fake, 0);
  REQUIRE(m1->done);
  CHECK(m1->code() == state_errc::backend_unavailable);
  CHECK_THAT(m1->message(), Catch::Contains("'moved:1' belongs to node "
                                            "remote-b:7000"));
  CHECK_FALSE(k1->done);
  CHECK(fs.whats().back() == "batch k1,k2,k3");
  f.answer(fake, 1);
  REQUIRE(k1->value);
  CHECK(k1->value->value == "value of k1");
  REQUIRE(b23->value);
  CHECK(b23->value->entries.size() == 2);
  // The moved key later in the batch: the keys before it are answered,
  // the reads of the rest go alone.
  auto k4 = f.get("k4");
  auto m2 = f.get("moved:2");
  auto k5 = f.get("k5");
  f.sched->run();
  CHECK(fs.whats().back() == "batch k4,moved:2,k5");
  f.answer(fake, 2);
  REQUIRE(k4->value);
  CHECK(fs.whats()
        == std::vector<std::string>{"batch moved:1,k1,k2,k3", "batch k1,k2,k3",
                                    "batch k4,moved:2,k5", "get moved:2",
                                    "get k5"});
  f.answer(fake, 3);
  f.answer(fake, 4);
  REQUIRE(m2->done);
  CHECK(m2->code() == state_errc::backend_unavailable);
  CHECK_THAT(m2->message(), Catch::Contains("'moved:2' belongs to node"));
  REQUIRE(k5->value);
  CHECK(k5->value->value == "value of k5");
  // A guard of an earlier release refuses the batch naming a key in its
  // middle: the reads of that key fail, the others go again.
  auto k6 = f.get("k6");
  auto m3 = f.get("oldmoved:3");
  auto k7 = f.get("k7");
  f.sched->run();
  CHECK(fs.whats().back() == "batch k6,oldmoved:3,k7");
  f.answer(fake, 5);
  REQUIRE(m3->done);
  CHECK_THAT(m3->message(), Catch::Contains("'oldmoved:3' belongs to node"));
  CHECK(fs.whats().back() == "batch k6,k7");
  f.answer(fake, 6);
  REQUIRE(k6->value);
  REQUIRE(k7->value);
}

TEST_CASE("a batch that skips unreadable values travels alone, flag "
          "included, and its client gets the keys named unreadable") {
  peer_fixture f;
  auto fake = f.connected_fake();
  auto& fs = f.state_of(fake);
  auto k1 = f.get("k1");
  auto skipping = f.batch({"b1", "bad:b2", "b3"}, true);
  auto plain = f.batch({"b4"});
  f.sched->run();
  // The others would fail on a value it skips: not coalesced with them.
  CHECK(fs.whats()
        == std::vector<std::string>{"batch skipping b1,bad:b2,b3",
                                    "batch k1,b4"});
  for (size_t i = 0; i < 2; ++i)
    f.answer(fake, i);
  REQUIRE(skipping->value);
  auto& reply = *skipping->value;
  REQUIRE(reply.entries.size() == 3);
  CHECK(reply.entries[0].value == "value of b1");
  CHECK_FALSE(reply.entries[1].found());
  REQUIRE(reply.unreadable.size() == 1);
  CHECK(reply.unreadable[0].key == "bad:b2");
  CHECK(reply.unreadable[0].reason == "damaged");
  REQUIRE(k1->value);
  REQUIRE(plain->value);
  CHECK(plain->value->unreadable.empty());
}

TEST_CASE("coalesced reads: max_coalesced, the window, and a batch answer "
          "of the wrong size") {
  auto settings = test_settings();
  SECTION("past max_coalesced keys the batch is sent") {
    settings.max_coalesced = 2;
    peer_fixture f{settings};
    auto fake = f.connected_fake();
    auto k1 = f.get("k1");
    auto k2 = f.get("k2");
    auto k3 = f.get("k3");
    f.sched->run();
    CHECK(f.state_of(fake).whats()
          == std::vector<std::string>{"batch k1,k2", "batch k3"});
    f.answer(fake, 0);
    f.answer(fake, 1);
    REQUIRE(k3->value);
    CHECK(k3->value->value == "value of k3");
    REQUIRE(k1->value);
    CHECK(k1->value->value == "value of k1");
  }
  SECTION("a coalesced batch never holds more than max_coalesced keys") {
    // Batches of clients that together pass the remote's batch limit once
    // went out as one batch_get it refused (node_bench: 11 x 100 keys).
    settings.max_coalesced = 3;
    peer_fixture f{settings};
    auto fake = f.connected_fake();
    auto ab = f.batch({"a", "b"});
    auto cd = f.batch({"c", "d"});
    auto big = f.batch({"w", "x", "y", "z"}); // alone: the store decides
    auto e = f.get("e");
    f.sched->run();
    CHECK(f.state_of(fake).whats()
          == std::vector<std::string>{"batch a,b", "batch w,x,y,z",
                                      "batch c,d,e"});
    for (size_t i = 0; i < 3; ++i)
      f.answer(fake, i);
    REQUIRE(ab->value);
    REQUIRE(cd->value);
    REQUIRE(big->value);
    REQUIRE(e->value);
    CHECK(cd->value->entries.at(1).value == "value of d");
    CHECK(e->value->value == "value of e");
  }
  SECTION("a batch takes one slot of the window and waits for it") {
    settings.window = 1;
    peer_fixture f{settings};
    auto fake = f.connected_fake();
    auto write = f.put("w");
    f.sched->run();
    auto k1 = f.get("k1");
    auto k2 = f.get("k2");
    f.sched->run();
    CHECK(f.state_of(fake).whats() == std::vector<std::string>{"put w"});
    auto s = f.stats();
    CHECK(s.in_flight == 1);
    CHECK(s.queued == 1);
    f.answer(fake, 0);
    CHECK(f.state_of(fake).whats()
          == std::vector<std::string>{"put w", "batch k1,k2"});
    f.answer(fake, 1);
    REQUIRE(k1->value);
    REQUIRE(k2->value);
    CHECK(k2->value->value == "value of k2");
  }
  SECTION("an answer of the wrong size fails every read in the batch") {
    peer_fixture f{settings};
    auto fake = f.connected_fake();
    auto k1 = f.get("k1");
    auto pair = f.batch({"b1", "b2"});
    f.sched->run();
    REQUIRE(f.state_of(fake).whats()
            == std::vector<std::string>{"batch k1,b1,b2"});
    caf::anon_send(fake, short_atom::value, size_t{0});
    f.sched->run();
    for (auto code : {k1->code(), pair->code()})
      CHECK(code == state_errc::serialization_error);
    CHECK_THAT(k1->message(), Catch::Contains("peer remote-a:7000"));
    CHECK(f.stats().in_flight == 0);
  }
  SECTION("a transport error fails every read in the batch") {
    peer_fixture f{settings};
    auto fake = f.connected_fake();
    auto k1 = f.get("k1");
    auto k2 = f.get("k2");
    f.sched->run();
    caf::anon_send(fake, fail_atom::value, size_t{0},
                   caf::make_error(caf::sec::disconnect_during_handshake));
    f.sched->run();
    for (auto& k : {k1, k2}) {
      REQUIRE(k->done);
      CHECK(k->code() == state_errc::backend_unavailable);
      CHECK_THAT(k->message(), Catch::Contains("peer remote-a:7000"));
    }
  }
}

TEST_CASE("a lost connection fails the requests on the wire and the queued "
          "ones at once, and every request until the next peer_up") {
  auto settings = test_settings();
  settings.window = 1;
  peer_fixture f{settings};
  auto fake = f.connected_fake();
  auto in_flight = f.put("a");
  auto queued1 = f.put("b");
  auto queued2 = f.get("c");
  f.sched->run();
  CHECK(f.stats().queued == 2);
  // (Its state goes with it: read it first.)
  CHECK(f.state_of(fake).whats() == std::vector<std::string>{"put a"});
  caf::anon_send_exit(fake, caf::exit_reason::kill);
  f.sched->run();
  // The request on the wire is answered now, not at its deadline (the
  // actor clock has not moved): no answer can come any more, and whether
  // the write was applied is unknown. It waited out request_timeout
  // before. Found by review.
  REQUIRE(in_flight->done);
  CHECK(in_flight->code() == state_errc::backend_unavailable);
  CHECK_THAT(in_flight->message(),
             Catch::Contains("peer remote-a:7000")
               && Catch::Contains("connection lost before it answered")
               && Catch::Contains("may or may not have been applied"));
  for (auto [done, code, msg] :
       {std::tuple{queued1->done, queued1->code(), queued1->message()},
        std::tuple{queued2->done, queued2->code(), queued2->message()}}) {
    CHECK(done);
    CHECK(code == state_errc::backend_unavailable);
    CHECK_THAT(msg, Catch::Contains("not connected"));
  }
  auto s = f.stats();
  CHECK_FALSE(s.up);
  CHECK(s.connects == 1);
  CHECK(s.queued == 0);
  // New requests fail at once, reads included (nothing waits to coalesce).
  auto after = f.get("d");
  auto after_write = f.put("e");
  f.sched->run();
  CHECK(after->code() == state_errc::backend_unavailable);
  CHECK(after_write->code() == state_errc::backend_unavailable);
  s = f.stats();
  CHECK(s.in_flight == 0);
  // Its deadline passing tells nobody anything more.
  auto failed = result_count(s, state_errc::backend_unavailable);
  f.sched->advance_time(60s);
  f.sched->run();
  CHECK(result_count(f.stats(), state_errc::backend_unavailable) == failed);
  // The connector reconnects: a new remote takes the requests.
  auto fresh = f.connected_fake();
  s = f.stats();
  CHECK(s.up);
  CHECK(s.connects == 2);
  auto again = f.put("f");
  f.sched->run();
  f.answer(fresh, 0);
  REQUIRE(again->value);
  CHECK(f.state_of(fresh).whats() == std::vector<std::string>{"put f"});
}

TEST_CASE("a second peer_up while connected (a stale dial) is ignored") {
  peer_fixture f;
  auto first = f.connected_fake();
  auto second = f.connected_fake();
  CHECK(f.stats().connects == 1);
  auto p = f.put("x");
  f.sched->run();
  CHECK(f.state_of(first).whats() == std::vector<std::string>{"put x"});
  CHECK(f.state_of(second).received.empty());
  f.answer(first, 0);
  REQUIRE(p->value);
  // The second remote dying means nothing to the peer.
  caf::anon_send_exit(second, caf::exit_reason::kill);
  f.sched->run();
  CHECK(f.stats().up);
}

TEST_CASE("failed dials are retried with exponential backoff up to "
          "max_backoff, and a connection resets it") {
  peer_fixture f; // min_backoff 100ms, max_backoff 500ms
  auto fail_once = [&] {
    caf::anon_send(f.peer, peer_failed_atom_v, std::string{"refused"});
    f.sched->run();
  };
  /// The retry fires exactly `delay` after the failure, not before.
  auto retry_after = [&](std::chrono::milliseconds delay) {
    INFO("expected retry after " << delay.count() << "ms");
    CHECK(f.sched->advance_time(delay - 1ms) == 0);
    CHECK(f.sched->advance_time(1ms) == 1);
    f.sched->run(); // the retry asks the connector to dial
  };
  for (auto delay : {100ms, 200ms, 400ms, 500ms, 500ms}) {
    fail_once();
    retry_after(delay);
  }
  CHECK_FALSE(f.stats().up);
  // A connection resets the backoff.
  f.connected_fake();
  fail_once();
  retry_after(100ms);
  // Still connected: the failure report was a stale dial's.
  CHECK(f.stats().up);
}

// -- the connector's dial loop, on the real scheduler ----------------------------

TEST_CASE("on the real scheduler the connector dials until the remote "
          "listens, then requests reach it") {
  caf::actor_system_config cfg;
  register_message_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  // A port with nobody listening yet.
  uint16_t port = 0;
  {
    silent_listener probe;
    port = probe.port;
  }
  REQUIRE(port != 0);
  auto settings = test_settings();
  settings.host = "127.0.0.1";
  settings.port = port;
  settings.min_backoff = 10ms;
  settings.max_backoff = 50ms;
  settings.request_timeout = 5s;
  auto peer = spawn_peer(sys, settings);
  caf::actor fake;
  // Whatever a check does, the actors end, so the system can shut down.
  struct stop_actors {
    peer_actor& peer;
    caf::actor& fake;
    ~stop_actors() {
      if (fake)
        caf::anon_send_exit(fake, caf::exit_reason::kill);
      caf::anon_send_exit(peer, caf::exit_reason::kill);
    }
  } stop{peer, fake};
  caf::scoped_actor self{sys};
  auto ask_stats = [&] {
    peer_stats out;
    self->request(peer, 5s, peer_stats_atom_v)
      .receive([&](peer_stats& s) { out = std::move(s); },
               [&](caf::error&) { out.peer = "<no answer>"; });
    return out;
  };
  auto ask_put = [&](const std::string& key) -> caf::expected<version_t> {
    caf::expected<version_t> out{caf::error{}};
    self->request(peer, 10s, put_atom_v,
                  set_request{key, "v", 0, condition::always()})
      .receive([&](const write_result& w) { out = w.version; },
               [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  // Refused dials: the peer stays up and answers at once.
  std::this_thread::sleep_for(200ms);
  auto refused = ask_put("early");
  REQUIRE_FALSE(refused);
  CHECK(code_of(refused.error()) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(refused.error()), Catch::Contains("not connected"));
  auto s = ask_stats();
  CHECK_FALSE(s.up);
  CHECK(s.connects == 0);
  // The remote comes up on that port; the next retry finds it.
  fake = sys.spawn(fake_remote, false);
  auto published = publish_state(sys, caf::actor_cast<state_actor>(fake),
                                 "127.0.0.1", port, false);
  REQUIRE(published);
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!ask_stats().up && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  s = ask_stats();
  REQUIRE(s.up);
  CHECK(s.connects == 1);
  auto v = ask_put("late");
  REQUIRE(v);
  CHECK(*v == 42);
  unpublish_state(sys, caf::actor_cast<state_actor>(fake), *published, false);
}

TEST_CASE("a flapping peer is reported once, not one line per connect and "
          "loss") {
  testing::captured_log log;
  peer_fixture f;
  for (int i = 0; i < 20; ++i) {
    auto fake = f.connected_fake();
    caf::anon_send_exit(fake, caf::exit_reason::kill);
    f.sched->run();
  }
  CHECK(f.stats().connects == 20);
  CHECK(log.count("connected to peer") == 1);
  CHECK(log.count("warning") == 1);
  CHECK(log.count("is flapping: lost 1 time(s)") == 1);
}

TEST_CASE("a lost connection answers coalesced reads on the wire at once, "
          "requests already timed out are not answered twice, and the next "
          "connection has the whole window") {
  auto settings = test_settings();
  settings.window = 2;
  peer_fixture f{settings};
  auto fake = f.connected_fake();
  auto timed_out = f.put("slow");
  f.sched->run();
  f.sched->advance_time(60s);
  f.sched->run();
  REQUIRE(timed_out->done);
  CHECK_THAT(timed_out->message(), Catch::Contains("no answer within"));
  // Two reads that travel as one batch_get, in the window's second slot.
  auto r1 = f.get("k1");
  auto r2 = f.get("k2");
  f.sched->run();
  CHECK(f.state_of(fake).received.size() == 2);
  auto s = f.stats();
  CHECK(s.in_flight == 2);
  auto before = result_count(s, state_errc::backend_unavailable);
  caf::anon_send_exit(fake, caf::exit_reason::kill);
  f.sched->run();
  for (auto& r : {r1, r2}) {
    REQUIRE(r->done);
    CHECK(r->code() == state_errc::backend_unavailable);
    CHECK_THAT(r->message(), Catch::Contains("connection lost"));
  }
  // The one batch failed once; the timed-out write heard only its timeout.
  s = f.stats();
  CHECK(result_count(s, state_errc::backend_unavailable) == before + 1);
  CHECK_THAT(timed_out->message(), Catch::Contains("no answer within"));
  CHECK(s.in_flight == 0);
  // A new connection: both slots are free at once.
  auto fresh = f.connected_fake();
  auto p1 = f.put("p1");
  auto p2 = f.put("p2");
  f.sched->run();
  CHECK(f.state_of(fresh).whats()
        == std::vector<std::string>{"put p1", "put p2"});
  f.answer(fresh, 0);
  f.answer(fresh, 1);
  REQUIRE(p1->value);
  REQUIRE(p2->value);
  CHECK(f.stats().in_flight == 0);
}
