#pragma once

// GET /v1/watch as a stream of Server-Sent Events: one actor per stream
// subscribes to the watch hub and writes each batch it gets to the
// connection, answering the hub (which then sends the next batch) only once
// the socket took it. A client that stops reading stops its actor's
// answers; the hub, whose history moves on, tells it to resync and drops it.
// While nothing changes, a comment line every watch.heartbeat keeps proxies
// from closing the stream. A client that leaves is noticed by the
// connection at once (a read waits on it while it streams), and by the
// actor at its next tick, within a second.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/fwd.hpp>

#include "http/message.hpp"
#include "messages/interfaces.hpp"

namespace solver_state::gateway {

/// The connection of one watch stream, shared by its request and its actor.
/// The server revokes every link when it stops, so that no actor holds a
/// connection past the io threads that serve it.
class watch_link {
public:
  explicit watch_link(sink_ptr sink) : sink_(std::move(sink)) {
  }

  /// Runs `f` with the connection; false, without running it, once revoked.
  bool use(const std::function<void(reply_sink&)>& f);

  /// Drops the connection.
  void revoke();

private:
  std::mutex mx_;
  sink_ptr sink_;
};

/// The links of a server's watch streams.
class watch_links {
public:
  void add(const std::shared_ptr<watch_link>& link);
  /// Revokes every link still alive.
  void revoke_all();
  /// The number of streams open, kept by the stream actors.
  const std::shared_ptr<std::atomic<size_t>>& open_streams() const {
    return open_streams_;
  }

private:
  std::mutex mx_;
  std::vector<std::weak_ptr<watch_link>> links_;
  std::shared_ptr<std::atomic<size_t>> open_streams_
    = std::make_shared<std::atomic<size_t>>(0);
};

struct watch_stream_settings {
  /// A comment line goes out after this long without a write.
  std::chrono::milliseconds heartbeat{10'000};
  /// A chunk the socket has not taken after this long ends the stream
  /// (the connection's own write timeout closes it before).
  std::chrono::milliseconds write_limit{60'000};
  /// The server's count of open streams (watch_links::open_streams): the
  /// more there are, the longer each waits between two writes.
  std::shared_ptr<std::atomic<size_t>> open_streams;
};

/// Starts the stream of `req` on `link`: subscribes to `hub`, then writes
/// a comment (or a resync event when the resume position is gone) and
/// every change after it. When the hub refuses (max_watchers), answers
/// with its error instead.
void start_watch_stream(caf::actor_system& sys, const watch_hub_actor& hub,
                        std::shared_ptr<watch_link> link, watch_request req,
                        watch_stream_settings settings);

} // namespace solver_state::gateway
