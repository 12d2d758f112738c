// The SSE stream actor of GET /v1/watch (see watch_stream.hpp).

#include "http/watch_stream.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "http/batch_texts.hpp"
#include "http/responses.hpp"
#include "http/sse_event.hpp"

namespace solver_state::gateway {

// -- links ------------------------------------------------------------------------

bool watch_link::use(const std::function<void(reply_sink&)>& f) {
  std::lock_guard<std::mutex> lock{mx_};
  if (!sink_)
    return false;
  f(*sink_);
  return true;
}

void watch_link::revoke() {
  sink_ptr gone;
  std::lock_guard<std::mutex> lock{mx_};
  gone.swap(sink_);
}

void watch_links::add(const std::shared_ptr<watch_link>& link) {
  std::lock_guard<std::mutex> lock{mx_};
  links_.erase(std::remove_if(links_.begin(), links_.end(),
                              [](const std::weak_ptr<watch_link>& l) {
                                return l.expired();
                              }),
               links_.end());
  links_.push_back(link);
}

void watch_links::revoke_all() {
  std::vector<std::weak_ptr<watch_link>> all;
  {
    std::lock_guard<std::mutex> lock{mx_};
    all.swap(links_);
  }
  for (auto& weak : all)
    if (auto link = weak.lock())
      link->revoke();
}

namespace {

batch_texts& shared_texts() {
  static batch_texts texts;
  return texts;
}

// -- the stream actor ------------------------------------------------------------------

/// commit_atom: the socket took the last chunk. tick_atom: time to check
/// for a heartbeat and a stuck write. deliver_atom: the write gap passed.
using stream_actor = watcher_actor::extend<caf::reacts_to<commit_atom>,
                                           caf::reacts_to<tick_atom>,
                                           caf::reacts_to<deliver_atom>>;

using steady = std::chrono::steady_clock;

/// Text a stream gathers while a write is on the wire before it makes the
/// hub wait: large enough that batches arriving meanwhile share a write.
constexpr size_t outbox_limit = 128u << 10;

/// The least time between two writes of one stream while changes keep
/// coming: what a change may wait for its write. Each write is a hand-off to
/// the io thread and back and a system call, so the gap grows with the
/// streams: 5 ms for up to 25, then 0.2 ms per stream up to 20 ms, which
/// keeps the server near 5 000 writes a second. 100 streams kept 0.44 of
/// the write rate with 5 ms, 0.7 with 20 ms (bench/README.md).
std::chrono::steady_clock::duration min_write_gap(size_t streams) {
  using std::chrono::milliseconds;
  auto per_stream = std::chrono::microseconds{200} * static_cast<long>(streams);
  return std::clamp<std::chrono::steady_clock::duration>(
    per_stream, milliseconds{5}, milliseconds{20});
}

/// Counts a stream as open for as long as its actor's state lives.
struct open_stream_count {
  std::shared_ptr<std::atomic<size_t>> count;

  void start(std::shared_ptr<std::atomic<size_t>> c) {
    count = std::move(c);
    if (count)
      ++*count;
  }
  ~open_stream_count() {
    if (count)
      --*count;
  }
};

struct stream_state {
  static inline const char* name = "solver-state.watch-stream";

  std::shared_ptr<watch_link> link;
  watch_stream_settings settings;
  /// What waits to be written, sent as one chunk when the socket has taken
  /// the one before: under load, several batches go out in one write.
  /// Bounded: past outbox_limit the hub's batch is answered only once this
  /// went out, so the hub holds the rest (in its bounded history).
  std::vector<std::shared_ptr<const std::string>> outbox;
  size_t outbox_bytes = 0;
  bool writing = false;
  steady::time_point write_started{};
  steady::time_point last_write{};
  /// The hub's batch, answered once the outbox went out.
  caf::response_promise held;
  bool stopped = false; // stop() ran: the actor is quitting
  /// Dropped by the hub: end the stream once the outbox is written.
  bool ending = false;
  /// A deliver_atom will write the outbox (see pump).
  bool flush_scheduled = false;
  open_stream_count counted;
};

using stream_ptr = stream_actor::stateful_pointer<stream_state>;

void add(stream_state& st, std::shared_ptr<const std::string> text) {
  st.outbox_bytes += text->size();
  st.outbox.push_back(std::move(text));
}

void add(stream_state& st, std::string text) {
  add(st, std::make_shared<const std::string>(std::move(text)));
}

/// Stops the actor. The hub's batch held for room in the outbox is
/// answered first, or its request would wait in the hub for good (CAF 0.17
/// answers nothing for a promise an actor drops when it quits).
void stop(stream_ptr self) {
  auto& st = self->state;
  st.stopped = true;
  if (st.held.pending())
    st.held.deliver(caf::unit);
  self->quit();
}

/// Ends the stream: completes it when nothing is being written, else
/// breaks it off (a chunk is on the wire); then stops the actor.
void finish(stream_ptr self, const std::string& why) {
  auto& st = self->state;
  bool writing = st.writing;
  st.link->use([&](reply_sink& sink) {
    if (writing)
      sink.abort_stream(why);
    else
      sink.end_stream();
  });
  st.link->revoke();
  stop(self);
}

/// Writes the next chunk of the outbox unless one is on its way. Within
/// min_write_gap of the last write, waits out the gap first (unless the
/// outbox is full): under load a stream then writes a few hundred times a
/// second, many changes per write, instead of once per batch.
void pump(stream_ptr self) {
  auto& st = self->state;
  if (st.writing || st.flush_scheduled)
    return;
  if (st.outbox.empty()) {
    if (st.ending)
      finish(self, "the watcher was dropped");
    return;
  }
  auto since = steady::now() - st.last_write;
  auto streams = st.settings.open_streams ? st.settings.open_streams->load()
                                           : size_t{1};
  auto gap = min_write_gap(streams);
  if (since < gap && st.outbox_bytes < outbox_limit && !st.ending) {
    st.flush_scheduled = true;
    self->delayed_send(self, gap - since, deliver_atom_v);
    return;
  }
  std::vector<std::shared_ptr<const std::string>> pieces;
  pieces.swap(st.outbox);
  st.outbox_bytes = 0;
  // The outbox is empty again: the hub may send the next batch.
  if (st.held.pending())
    st.held.deliver(caf::unit);
  st.writing = true;
  st.write_started = steady::now();
  auto me = caf::actor_cast<stream_actor>(self);
  auto link = st.link;
  bool open = st.link->use([&](reply_sink& sink) {
    sink.stream_pieces(std::move(pieces), [link, me] {
      // On the connection's strand: between chunks the stream waits for
      // the hub, not for the store; no request deadline applies.
      link->use([](reply_sink& s) { s.idle_stream(); });
      caf::anon_send(me, commit_atom_v);
    });
  });
  if (!open)
    stop(self);
}

void on_tick(stream_ptr self) {
  auto& st = self->state;
  auto period = std::min<std::chrono::milliseconds>(st.settings.heartbeat,
                                                    std::chrono::seconds{1});
  self->delayed_send(self, period, tick_atom_v);
  bool open = true;
  st.link->use([&](reply_sink& sink) { open = sink.connection_open(); });
  if (!open) {
    st.link->revoke();
    return stop(self);
  }
  auto now = steady::now();
  if (st.writing) {
    if (now - st.write_started > st.settings.write_limit)
      finish(self, "the client took nothing for "
                     + std::to_string(st.settings.write_limit.count())
                     + " ms");
    return;
  }
  if (st.outbox.empty() && now - st.last_write >= st.settings.heartbeat) {
    add(st, ": heartbeat\n\n");
    pump(self);
  }
}

stream_actor::behavior_type stream(stream_ptr self,
                                   std::shared_ptr<watch_link> link,
                                   watch_hub_actor hub, watch_request req,
                                   watch_stream_settings settings) {
  auto& st = self->state;
  st.link = std::move(link);
  st.settings = settings;
  st.counted.start(settings.open_streams);
  st.last_write = steady::now();
  // The store stops (its hub goes): the stream ends with it.
  self->monitor(hub);
  self->set_down_handler([self](caf::down_msg&) {
    finish(self, "the store stopped");
  });
  auto me = caf::actor_cast<watcher_actor>(self);
  self->request(hub, std::chrono::seconds{10}, watch_atom_v, std::move(req), me)
    .then(
      [self](watch_started& started) {
        auto& st = self->state;
        // A resume position no longer held: the hub's resync came before
        // this reply and is the stream's first event.
        if (!started.resync) {
          // The first chunk sends the status line: the client knows it
          // is subscribed.
          add(st, ": watching\n\n");
        }
        // The position the stream starts after, as an event without data
        // (EventSource takes its id, dispatches nothing): a client that
        // reconnects before the first change under its prefix, or after
        // the resync above, resumes from here instead of from "now".
        add(st, "id: " + event_id(started.stream, started.position) + "\n\n");
        pump(self);
        self->send(self, tick_atom_v);
      },
      [self](caf::error& err) {
        self->state.link->use(
          [&](reply_sink& sink) { sink.reply(error_response(err)); });
        self->state.link->revoke();
        self->quit();
      });
  return {
    [self](const change_batch& batch) -> caf::result<void> {
      auto& st = self->state;
      add(st, shared_texts().text_of(batch));
      pump(self);
      if (st.stopped || st.outbox_bytes < outbox_limit)
        return caf::unit; // room for the next batch at once (or gone)
      st.held = self->make_response_promise();
      return caf::delegated<void>{};
    },
    [self](resync_atom, const std::string& why, bool dropped) {
      auto& st = self->state;
      // Dropped while a chunk still waits for the client: it reads nothing,
      // so it would not read the resync either. Close now.
      if (dropped && st.writing)
        return finish(self, why);
      std::string text;
      append_resync_event(text, why);
      add(st, std::move(text));
      st.ending = st.ending || dropped;
      pump(self);
    },
    [self](commit_atom) {
      auto& st = self->state;
      st.writing = false;
      st.last_write = steady::now();
      pump(self);
    },
    [self](tick_atom) { on_tick(self); },
    [self](deliver_atom) {
      self->state.flush_scheduled = false;
      pump(self);
    },
  };
}

} // namespace

void start_watch_stream(caf::actor_system& sys, const watch_hub_actor& hub,
                        std::shared_ptr<watch_link> link, watch_request req,
                        watch_stream_settings settings) {
  sys.spawn(stream, std::move(link), hub, std::move(req), settings);
}

} // namespace solver_state::gateway
